"""Python side of the `workflow` module and of the workflow-time replacements (uuid, clock,
random, funcs, process.upgrade) that modules/workflow.lua installs in workflow engines."""
from __future__ import annotations

import uuid as _uuid
from typing import Any


def install(engine):
    run = getattr(engine, "workflow_run", None)
    if run is None:
        return {"active": False}
    from temporalio import workflow
    from ..engine.errors import WippyError, INVALID

    node = engine.node

    def uuid4():
        return str(workflow.uuid4())

    def uuid7():
        ms = workflow.time_ns() // 1_000_000
        r = workflow.random().getrandbits(80)
        b = bytearray(ms.to_bytes(6, "big") + r.to_bytes(10, "big"))
        b[6] = 0x70 | (b[6] & 0x0F)
        b[8] = (b[8] & 0x3F) | 0x80
        return str(_uuid.UUID(bytes=bytes(b)))

    def uuid1():
        # time-based ids from workflow time and recorded randomness
        return str(_uuid.uuid1(node=workflow.random().getrandbits(48) | (1 << 40),
                               clock_seq=workflow.random().getrandbits(14)))

    def seed():
        return workflow.random().getrandbits(31)

    def now_ns():
        return workflow.time_ns()

    async def activity(entry_id, args, opts):
        return await node.activity(entry_id, engine.py_args(args), engine.py(opts) if opts is not None else {})

    def done(value=None, err=None):
        run.finish(engine.py(value), engine.py(err) if err is not None else None)

    def upgrade(entry_id, args):
        run.upgrade = (entry_id, engine.py_args(args))

    def info():
        i = workflow.info()
        return {"workflow_id": i.workflow_id, "run_id": i.run_id, "workflow_type": i.workflow_type,
                "task_queue": i.task_queue, "namespace": i.namespace, "attempt": i.attempt,
                "history_length": i.get_current_history_length(), "history_size": i.get_current_history_size()}

    def history_length():
        return workflow.info().get_current_history_length()

    def history_size():
        return workflow.info().get_current_history_size()

    def version(change_id, min_v, max_v):
        # Temporal's Python SDK has patches, not GetVersion: a patched run takes the newest
        # branch, a run recorded before the patch replays the oldest.
        if not isinstance(change_id, str) or not change_id:
            raise WippyError(INVALID, "workflow.version: change id must be a non-empty string")
        return max_v if workflow.patched(change_id) else min_v

    def attrs(t):
        t = engine.py(t) if t is not None else {}
        if not isinstance(t, dict):
            raise WippyError(INVALID, "workflow.attrs expects {search = {...}, memo = {...}}")
        if t.get("memo"):
            workflow.upsert_memo(dict(t["memo"]))
        if t.get("search"):
            from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
            pairs: list[SearchAttributeUpdate] = []
            for k, v in dict(t["search"]).items():
                key: SearchAttributeKey[Any]
                if isinstance(v, bool):
                    key = SearchAttributeKey.for_bool(k)
                elif isinstance(v, int):
                    key = SearchAttributeKey.for_int(k)
                elif isinstance(v, float):
                    key = SearchAttributeKey.for_float(k)
                else:
                    key, v = SearchAttributeKey.for_keyword(k), str(v)
                pairs.append(key.value_set(v))
            workflow.upsert_search_attributes(pairs)
        return True

    return {"active": True, "uuid4": uuid4, "uuid7": uuid7, "uuid1": uuid1, "seed": seed, "now_ns": now_ns,
            "activity": activity, "done": done, "upgrade": upgrade, "info": info, "version": version,
            "attrs": attrs, "history_length": history_length, "history_size": history_size,
            "worker": node.ctx.worker_id}
