"""A workflow run: one Lua engine driven by the workflow's deterministic event loop.

temporalio runs workflow code on its own asyncio loop: `loop.time()` is workflow time,
`call_later` becomes a durable timer, tasks are scheduled deterministically. The engine's
scheduler only ever uses that loop, so the same engine runs a workflow almost unchanged;
what differs is swapped here and in modules/workflow.{lua,py}:

- only deterministic and workflow-class modules are installed and may be required;
- `funcs.call/async` -> activities, `process.spawn/exec` on a worker -> child workflows,
  `process.send` -> signals (or an internal activity for ordinary pids), `process.upgrade`
  -> continue-as-new, `time.now`/`os.time` -> workflow time, uuid/math.random -> recorded
  randomness (workflow.random / workflow.uuid4).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

from .. import lang
from ..engine.engine import Engine
from ..engine.errors import WippyError, CANCELED, INVALID, NOT_FOUND
from ..modules import SPECS
from . import context as C
from .errors import from_failure, to_application_error
from .options import activity_options, start_options

log = logging.getLogger("wippy.temporal")

WF_HOST = "wippy:workflow"      # the engine's own host id: never a real host, so spawns go out
WORKFLOW_CLASSES = frozenset({"deterministic", "workflow"})
ALLOWED_MODULES = frozenset(s.name for s in SPECS if s.classes & WORKFLOW_CLASSES)
MIN_TIMER = 0.001


def module_problem(entry_id: str, modules) -> str | None:
    """Why an entry's modules cannot run in a workflow (None when they can)."""
    by_name = {s.name: s for s in SPECS}
    bad = []
    for m in modules or []:
        spec = by_name.get(m)
        if spec is None:
            bad.append(f"'{m}' (unknown module)")
        elif not spec.classes & WORKFLOW_CLASSES:
            bad.append(f"'{m}' ({', '.join(sorted(spec.classes))})")
    if not bad:
        return None
    return (f"{entry_id}: workflow code may require only deterministic or workflow modules; "
            f"not allowed: {', '.join(bad)}")


class WorkflowEngine(Engine):
    """An engine whose clock is workflow time and whose timers are durable."""

    def __init__(self, node: "WorkflowNode", run: "Run"):
        self.workflow_run = run        # read by modules/workflow.py while installing
        self._floor = 0.0
        # Lua's determinism is ours to enforce (modules, clock, randomness); the Python sandbox
        # restrictions are for Python workflow code, so the engine itself runs unrestricted
        # (modules may read files such as /etc/localtime while they install)
        with workflow.unsafe.sandbox_unrestricted():
            # WorkflowNode is a Node by duck typing: it has what an engine calls, routed to Temporal
            super().__init__(node, WF_HOST, slice_timeout=0, modules=set(ALLOWED_MODULES))  # type: ignore[arg-type]

    def _pump(self) -> None:
        with workflow.unsafe.sandbox_unrestricted():
            super()._pump()

    def _bridge(self):
        P = super()._bridge()
        P.monotonic = self._time
        return P

    def _time(self) -> float:
        # a durable timer may fire at a workflow time a hair before its deadline
        t = self.loop.time()
        return t if t > self._floor else self._floor

    def _arm(self, at: float) -> None:
        if self._timer_at is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        delay = max(MIN_TIMER, round(at - self.loop.time(), 3))
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        if self._timer_at is not None and self._timer_at > self._floor:
            self._floor = self._timer_at
        super()._on_timer()

    def compile(self, entry_id: str) -> None:
        entry = self.node.get_entry(entry_id)
        if entry is None:
            raise WippyError(NOT_FOUND, f"entry {entry_id} not found")
        data = entry.data if isinstance(entry.data, dict) else {}
        problem = module_problem(entry_id, data.get("modules"))
        if problem:
            raise WippyError(INVALID, problem)
        source = data.get("source")
        if not isinstance(source, str):
            raise WippyError(INVALID, f"entry {entry_id} ({entry.kind}) has no Lua source")
        try:   # typed Lua, as every other engine reads it
            source = lang.compile(source, entry_id)
        except lang.LuaSyntaxError as e:
            raise WippyError(INVALID, f"{entry_id}: {e.message}") from None
        kind = "process.lua" if entry.kind == C.WORKFLOW_KIND else entry.kind
        fac, err = self.S.compile(entry_id, kind, source, data.get("method"),
                                  self.lua.table_from(list(data.get("modules") or [])),
                                  self.lua.table_from(dict(data.get("imports") or {})),
                                  self.node.entry_version(entry_id))
        if fac is None:
            raise WippyError(INVALID, f"{entry_id}: {err}")
        self.S.install(fac)


class _Child:
    def __init__(self, wid: str):
        self.wid = wid
        self.handle: Any = None   # the ChildWorkflowHandle, set before `started` resolves
        self.started: asyncio.Future = asyncio.get_running_loop().create_future()
        self.watchers: set[str] = set()
        self.links: set[str] = set()


class WorkflowNode:
    """The node a workflow's engine sees: routing maps to Temporal commands."""

    def __init__(self, ctx: C.WorkerContext, pid: str, run: "Run"):
        self.ctx = ctx
        self.pid = pid
        self.run = run
        self.name = ctx.client_id
        self.hosts: dict[str, Any] = {}
        self._frames = itertools.count(1)
        self._children: dict[str, _Child] = {}
        self._child_seq = itertools.count(1)
        self._chains: dict[str, asyncio.Task] = {}

    # entries
    def get_entry(self, entry_id: str):
        return self.ctx.get_entry(entry_id)

    def entry_version(self, entry_id: str) -> int:
        return self.ctx.entry_version(entry_id)

    def frame_id(self) -> str:
        return f"{workflow.info().workflow_id}:{next(self._frames):x}"

    @staticmethod
    def wall_ns() -> int:
        return workflow.time_ns()

    # names are node-local and not recorded: workflows do not use them
    def lookup_name(self, name: str):
        return None

    def register_name(self, name: str, pid: str) -> None:
        raise WippyError(INVALID, "process names cannot be registered inside a workflow")

    def unregister_name(self, name: str) -> bool:
        return False

    def on_exit(self, pid, value, err) -> None:
        pass

    def route_event(self, pid: str, event: dict) -> None:
        # events from the workflow's own processes to pids outside it: only children care
        pass

    def unlink(self, pid: str, other: str) -> None:
        pass

    # -------------------------------------------------------------- workflow pids
    def _workflow_target(self, pid: str) -> tuple[str | None, str | None]:
        client, worker, wid = C.split_pid(pid)
        if wid and worker and self.ctx.queue_of(worker) is not None and worker != WF_HOST:
            return worker, wid
        return None, None

    def _chain(self, key: str, make) -> None:
        """Run coroutines for one target in order (per-sender FIFO)."""
        prev = self._chains.get(key)

        async def step():
            if prev is not None:
                try:
                    await prev
                except BaseException:
                    pass
            await make()
        self._chains[key] = asyncio.get_running_loop().create_task(step())

    def send(self, pid: str, topic: str, frm: str | None, value: Any) -> bool:
        worker, wid = self._workflow_target(pid)
        if wid is not None:
            child = self._children.get(wid)

            async def signal():
                if child is not None:
                    await child.started
                    await child.handle.signal(topic, args=[value, frm])
                else:
                    await workflow.get_external_workflow_handle(wid).signal(topic, args=[value, frm])
            self._chain(wid, signal)
            return True

        async def out():
            await workflow.execute_activity(C.SEND_ACTIVITY, args=[pid, topic, frm, value],
                                            task_queue=self.ctx.task_queue,
                                            start_to_close_timeout=C_SEND_TIMEOUT)
        self._chain(pid, out)
        return True

    def _child_args(self, entry_id: str, host_id: str, options: dict | None):
        queue = self.ctx.queue_of(host_id)
        if queue is None:
            raise WippyError(INVALID, f"a workflow can spawn only workflows (on a temporal.worker host), not on {host_id}")
        entry = self.get_entry(entry_id)
        if entry is None or entry.kind != C.WORKFLOW_KIND:
            raise WippyError(NOT_FOUND, f"workflow {entry_id} not found")
        options = options or {}
        wid, kw = start_options(options.get("opts"))
        name = options.get("name")
        wid = wid or name or f"{workflow.info().workflow_id}.{next(self._child_seq)}"
        kw.setdefault("task_queue", queue)
        kw = {k: v for k, v in kw.items() if not k.startswith("_") and k not in ("id_conflict_policy", "start_delay")}
        pcp = (options.get("opts") or {})
        return wid, kw, _parent_close(pcp)

    def spawn(self, entry_id: str, host_id: str, args: list, *, caller: str | None = None,
              monitored: bool = False, linked: bool = False, options: dict | None = None,
              name: str | None = None) -> str:
        wid, kw, pcp = self._child_args(entry_id, host_id, options)
        if pcp is not None:
            kw["parent_close_policy"] = pcp
        child = _Child(wid)
        self._children[wid] = child
        if monitored and caller:
            child.watchers.add(caller)
        if linked and caller:
            child.links.add(caller)
        pid = self.ctx.pid(wid, host_id)
        messages = list((options or {}).get("messages") or [])
        loop = asyncio.get_running_loop()

        async def run_child():
            try:
                child.handle = await workflow.start_child_workflow(entry_id, args=list(args), id=wid, **kw)
            except BaseException as e:
                child.started.set_exception(e)
                child.started.exception()
                self._child_exit(pid, child, None, from_failure(e))
                return
            child.started.set_result(True)
            for m in messages:
                self.send(pid, m["topic"], caller, m.get("payload"))
            try:
                value = await child.handle
                self._child_exit(pid, child, value, None)
            except ChildWorkflowError as e:
                self._child_exit(pid, child, None, from_failure(e))
            except asyncio.CancelledError:
                self._child_exit(pid, child, None, WippyError(CANCELED, "parent canceled"))
                raise
        loop.create_task(run_child())
        return pid

    def _child_exit(self, pid: str, child: _Child, value: Any, err: WippyError | None) -> None:
        engine = self.run.engine
        if engine is None or engine.closed:
            return
        ev = {"kind": "pid.exit", "type": "pid.exit", "from": pid, "result": {"value": value, "error": err}}
        for w in child.watchers:
            engine.deliver_event(w, ev)
        if err is not None:
            for w in child.links:
                proc = engine.S.procs[w]
                if proc is not None:
                    engine.S.link_down(proc, pid, engine.new_error(err))
                    engine.kick()

    async def exec(self, entry_id: str, host_id: str, args: list, options: dict | None = None) -> Any:
        wid, kw, pcp = self._child_args(entry_id, host_id, options)
        if pcp is not None:
            kw["parent_close_policy"] = pcp
        try:
            return await workflow.execute_child_workflow(entry_id, args=list(args), id=wid, **kw)
        except ChildWorkflowError as e:
            raise from_failure(e) from None

    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool:
        worker, wid = self._workflow_target(pid)
        if wid is None:
            return False
        child = self._children.get(wid)

        async def do():
            if child is not None:
                await child.started
                child.handle.cancel()
            else:
                await workflow.get_external_workflow_handle(wid).cancel()
        self._chain(wid, do)
        return True

    def terminate(self, pid: str, reason: str = "terminated") -> bool:
        # Temporal has no terminate command for workflow code: cancel is the closest
        return self.cancel(pid, None, reason)

    def monitor(self, pid: str, watcher: str, on: bool) -> bool:
        worker, wid = self._workflow_target(pid)
        child = self._children.get(wid) if wid else None
        if child is None:
            raise WippyError(INVALID, "a workflow can monitor only the child workflows it started")
        (child.watchers.add if on else child.watchers.discard)(watcher)
        return True

    def link(self, pid: str, other: str, on: bool) -> bool:
        worker, wid = self._workflow_target(pid)
        child = self._children.get(wid) if wid else None
        if child is None:
            raise WippyError(INVALID, "a workflow can link only to the child workflows it started")
        (child.links.add if on else child.links.discard)(other)
        return True

    # activities
    async def activity(self, entry_id: str, args: list, opts: Any) -> Any:
        entry = self.get_entry(entry_id)
        worker = C.activity_worker(entry) if entry is not None else None
        if entry is None or entry.kind not in C.ACTIVITY_KINDS or worker is None:
            raise WippyError(NOT_FOUND, f"activity {entry_id} is not registered "
                                        "(a function.lua entry with meta.temporal.activity.worker)")
        kw = activity_options(opts)
        kw.setdefault("task_queue", self.ctx.queue_of(worker) or self.ctx.task_queue)
        try:
            return await workflow.execute_activity(entry_id, args=list(args), **kw)
        except ActivityError as e:
            raise from_failure(e) from None


def _parent_close(opts: Any):
    from .options import flatten
    v = flatten(opts).get("temporal.workflow.parent_close_policy")
    if v is None:
        return None
    return {"terminate": workflow.ParentClosePolicy.TERMINATE, "abandon": workflow.ParentClosePolicy.ABANDON,
            "request_cancel": workflow.ParentClosePolicy.REQUEST_CANCEL}.get(str(v).lower())


from datetime import timedelta  # noqa: E402
C_SEND_TIMEOUT = timedelta(seconds=30)


class Run:
    """State of one workflow run (one instance of the Temporal workflow class)."""

    def __init__(self):
        self.engine: WorkflowEngine | None = None
        self.node: WorkflowNode | None = None
        self.pid: str | None = None
        self.pending: list[tuple[str, Any, Any]] = []
        self.done: asyncio.Future | None = None
        self.upgrade: tuple[str, list] | None = None

    async def run(self, args: list) -> Any:
        info = workflow.info()
        ctx = C.find(info.task_queue)
        if ctx is None:
            # not ours to decide: fail the task, so a worker that knows the app retries it
            raise RuntimeError(f"no Wippy worker context for task queue {info.task_queue}")
        entry_id = info.workflow_type
        entry = ctx.get_entry(entry_id)
        if entry is None or entry.kind != C.WORKFLOW_KIND:
            raise ApplicationError(f"workflow {entry_id} not found", {"kind": NOT_FOUND, "retryable": False},
                                   type=NOT_FOUND, non_retryable=True)
        self.pid = ctx.pid(info.workflow_id)
        self.node = WorkflowNode(ctx, self.pid, self)
        self.done = asyncio.get_running_loop().create_future()
        self.engine = engine = WorkflowEngine(self.node, self)
        try:
            engine.compile(entry_id)
        except WippyError as e:
            raise to_application_error(e) from None
        ok, err = engine.S.wf_start(entry_id, engine.args_table(args), self.pid)
        if not ok:
            raise to_application_error(engine.error_to_python(err))
        for topic, frm, value in self.pending:
            engine.deliver(self.pid, topic, frm, value)
        self.pending = []
        engine.kick()
        canceled = False
        while True:
            try:
                value, err = await asyncio.shield(self.done)
                break
            except asyncio.CancelledError:
                if canceled:
                    raise
                canceled = True
                proc = engine.S.procs[self.pid]
                if proc is not None and proc.events is not None:
                    engine.cancel(self.pid, None, "workflow canceled")
                else:
                    engine.terminate(self.pid, "workflow canceled")
        engine.close()
        if self.upgrade is not None:
            new_id, new_args = self.upgrade
            workflow.continue_as_new(args=new_args, workflow=new_id)
        if err is not None:
            if canceled:
                raise asyncio.CancelledError(err.message)
            raise to_application_error(err)
        return value

    def signal(self, topic: str, value: Any, frm: Any) -> None:
        if self.engine is None or self.pid is None:   # not started yet
            self.pending.append((topic, frm, value))
        else:
            self.engine.deliver(self.pid, topic, frm, value)

    # called from Lua (modules/workflow.py)
    def finish(self, value: Any, err: WippyError | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_result((value, err))
