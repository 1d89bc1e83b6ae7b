"""Replaying recorded histories against (possibly changed) workflow code.

`replay(history, get_entry)` runs temporalio's Replayer over a history with the Lua of the
entries `get_entry` returns; it returns None when the code still produces the recorded
commands, or the failure (a `temporalio.workflow.NondeterminismError` when the Lua changed in
a nondeterministic way).
"""
from __future__ import annotations

from typing import Any, Callable

from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from . import context as C
from .host import RUNNER
from .workflows import LuaWorkflow


def task_queue_of(history: WorkflowHistory) -> str:
    for e in history.events:
        if e.HasField("workflow_execution_started_event_attributes"):
            return e.workflow_execution_started_event_attributes.task_queue.name
    raise ValueError("history has no WorkflowExecutionStarted event")


async def replay(history: WorkflowHistory, get_entry: Callable[[str], Any], *, client_id: str = "app:temporal",
                 worker_id: str = "app:worker", workers: dict[str, str] | None = None) -> BaseException | None:
    queue = task_queue_of(history)
    ctx = C.WorkerContext(client_id=client_id, worker_id=worker_id, task_queue=queue, get_entry=get_entry,
                          workers=lambda: dict(workers or {}))
    C.REPLAY.append(ctx)
    try:
        replayer = Replayer(workflows=[LuaWorkflow], workflow_runner=RUNNER)
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        return result.replay_failure
    finally:
        C.REPLAY.remove(ctx)
