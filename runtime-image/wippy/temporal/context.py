"""What workflow code (inside the Temporal sandbox) may know of the runtime hosting its worker.

Workers register a WorkerContext under their task queue; a workflow run finds its own by
`workflow.info().task_queue`. This module is passed through the sandbox, so the dicts here are
the same objects the runtime filled.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

WORKFLOW_KIND = "workflow.lua"
ACTIVITY_KINDS = ("function.lua", "process.lua")
SEND_ACTIVITY = "wippy.temporal:send"      # internal: deliver a message to a non-workflow pid


@dataclass
class WorkerContext:
    client_id: str
    worker_id: str
    task_queue: str
    get_entry: Callable[[str], Any]
    # worker entry id -> its task queue (for activities and children bound to other workers)
    workers: Callable[[], dict[str, str]] = field(default=lambda: {})
    entry_version: Callable[[str], int] = field(default=lambda _id: 0)

    def queue_of(self, worker_id: str | None) -> str | None:
        if not worker_id or worker_id == self.worker_id:
            return self.task_queue
        return self.workers().get(worker_id)

    def pid(self, workflow_id: str, worker_id: str | None = None) -> str:
        return f"{{{self.client_id}@{worker_id or self.worker_id}|{workflow_id}}}"


CONTEXTS: dict[str, WorkerContext] = {}
# the context a Replayer run uses (its task queue is not the recorded one)
REPLAY: list[WorkerContext] = []


def find(task_queue: str) -> WorkerContext | None:
    ctx = CONTEXTS.get(task_queue)
    if ctx is None and REPLAY and task_queue.startswith("replay-"):
        return REPLAY[-1]
    return ctx


def register(ctx: WorkerContext) -> None:
    CONTEXTS[ctx.task_queue] = ctx


def unregister(ctx: WorkerContext) -> None:
    if CONTEXTS.get(ctx.task_queue) is ctx:
        del CONTEXTS[ctx.task_queue]


def meta_path(meta: Any, path: str) -> Any:
    v = meta
    for part in path.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


def resolve(ref: str | None, ns: str) -> str | None:
    if not ref:
        return None
    return ref if ":" in ref else f"{ns}:{ref}"


def workflow_worker(entry) -> str | None:
    return resolve(meta_path(entry.meta or {}, "temporal.workflow.worker"), _ns(entry))


def activity_worker(entry) -> str | None:
    return resolve(meta_path(entry.meta or {}, "temporal.activity.worker"), _ns(entry))


def _ns(entry) -> str:
    return entry.id.rsplit(":", 1)[0] if ":" in entry.id else ""


def split_pid(pid: str) -> tuple[str | None, str | None, str | None]:
    """`{client@worker|wid}` -> (client, worker, wid)."""
    if not isinstance(pid, str) or not (pid.startswith("{") and pid.endswith("}")):
        return None, None, None
    head, sep, uniq = pid[1:-1].partition("|")
    if not sep:
        return None, None, None
    node, at, host = head.partition("@")
    return (node if at else None), (host if at else head), uniq
