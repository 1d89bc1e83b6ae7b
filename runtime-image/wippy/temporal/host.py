"""temporal.client and temporal.worker on a runtime node.

A TemporalWorkerHost is a host like a process.host: `process.spawn(workflow_id, worker_id, ...)`
starts a workflow whose pid is `{client@worker|workflow id}`; sends become signals, cancel
and terminate act on the execution, monitors report its end. It also runs the temporalio
Worker that executes the app's workflows (LuaWorkflow) and activities (function.lua entries
with meta.temporal.activity.worker; activity type = entry id).
"""

import asyncio
import logging
import uuid
from pathlib import Path
from collections.abc import Sequence
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.common import RawValue, WorkflowIDConflictPolicy
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from ..engine.errors import WippyError, INVALID, NOT_FOUND, UNAVAILABLE
from . import context as C
from .devserver import DevServer
from .errors import from_failure, to_application_error
from .options import start_options
from .workflows import LuaWorkflow

log = logging.getLogger("wippy.temporal")

RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules("wippy", "lupa"))


class TemporalClient:
    """A connection to a Temporal frontend; with no address, an embedded dev server whose
    database lives under the app's .wippy/ (started on first use, stopped on close)."""

    def __init__(self, entry_id: str, address: str | None, namespace: str = "default",
                 data_dir: Path | None = None, connect_timeout: float = 30.0, connect_options: dict | None = None):
        """``connect_options``: more arguments of Client.connect (api_key, tls, keep_alive_config)."""
        self.entry_id = entry_id
        self.connect_options = dict(connect_options or {})
        self.address = address
        self.namespace = namespace
        self.data_dir = data_dir
        self.connect_timeout = connect_timeout
        self.server: DevServer | None = None
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        async with self._lock:
            if self._client is None:
                address = self.address
                if not address:
                    db = self.data_dir / "temporal.db" if self.data_dir is not None else None
                    self.server = DevServer(db)
                    await self.server.start()
                    address = self.server.address
                self._client = await _connect(address, self.namespace, self.connect_timeout, self.connect_options)
            return self._client

    # a client is registered on the node under its id so that it is closed with the runtime;
    # it is not a place to run processes
    def spawn(self, entry_id, args, **_kw):
        raise WippyError(INVALID, f"{self.entry_id} is a temporal.client, not a host (spawn on a temporal.worker)")

    def deliver(self, *a) -> bool:
        return False

    def deliver_event(self, *a) -> bool:
        return False

    def cancel(self, *a) -> bool:
        return False

    def terminate(self, *a) -> bool:
        return False

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None
        self._client = None


async def _connect(address: str, namespace: str, timeout: float, options: dict | None = None) -> Client:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await Client.connect(address, namespace=namespace, **(options or {}))
        except Exception as e:  # the server may still be starting
            if loop.time() > deadline:
                raise WippyError(UNAVAILABLE, f"cannot connect to Temporal at {address}: {e}") from None
            await asyncio.sleep(0.2)


class TemporalWorkerHost:
    global_pids = True   # a workflow's pid names its client, not a node: Temporal routes it (node.py)

    def __init__(self, runtime, worker_id: str, client: TemporalClient, task_queue: str,
                 max_concurrent_workflow_tasks: int | None = None, max_concurrent_activities: int | None = None,
                 options: dict | None = None):
        """``options``: more temporalio Worker arguments (from worker_options)."""
        self.runtime = runtime
        self.worker_id = worker_id
        self.tclient = client
        self.task_queue = task_queue
        self.limits: dict[str, Any] = {k: v for k, v in (("max_concurrent_workflow_tasks", max_concurrent_workflow_tasks),
                                         ("max_concurrent_activities", max_concurrent_activities)) if v}
        self.limits.update(options or {})
        self.client: Client | None = None
        self.worker: Worker | None = None
        self._task: asyncio.Task | None = None
        self._starts: dict[str, asyncio.Task] = {}
        self._chains: dict[str, asyncio.Task] = {}
        self._watches: set[asyncio.Task] = set()
        self.ctx = C.WorkerContext(client_id=client.entry_id, worker_id=worker_id, task_queue=task_queue,
                                   get_entry=runtime.registry.get, workers=self._workers,
                                   entry_version=runtime.node.entry_version)
        self.closed = False

    def _workers(self) -> dict[str, str]:
        return {hid: h.task_queue for hid, h in self.runtime.node.hosts.items() if isinstance(h, TemporalWorkerHost)}

    # ------------------------------------------------------------------ worker
    async def start(self) -> None:
        self.client = await self.tclient.get()
        C.register(self.ctx)
        self.worker = Worker(self.client, task_queue=self.task_queue, workflows=[LuaWorkflow],
                             activities=[self._activity_fn()], workflow_runner=RUNNER, **self.limits)
        self._task = asyncio.get_running_loop().create_task(self.worker.run())
        self._task.add_done_callback(self._worker_done)

    def _worker_done(self, task: asyncio.Task) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("temporal worker %s stopped: %s", self.worker_id, task.exception())

    def _activity_fn(self):
        runtime = self.runtime
        worker_id = self.worker_id

        @activity.defn(dynamic=True)
        async def lua_activity(args: Sequence[RawValue]) -> Any:
            conv = activity.payload_converter()
            values = [conv.from_payload(a.payload) for a in args]
            entry_id = activity.info().activity_type
            try:
                if entry_id == C.SEND_ACTIVITY:
                    pid, topic, frm, value = values
                    runtime.node.send(pid, topic, frm, value)
                    return None
                entry = runtime.registry.get(entry_id)
                if entry is None or entry.kind not in C.ACTIVITY_KINDS or C.activity_worker(entry) != worker_id:
                    raise WippyError(NOT_FOUND, f"activity {entry_id} is not registered on {worker_id}")
                if entry.kind == "process.lua":
                    from ..runtime import FUNCTIONS_HOST
                    return await runtime.node.exec(entry_id, FUNCTIONS_HOST, values)
                return await runtime.call(entry_id, *values)
            except WippyError as e:
                raise to_application_error(e) from None
        return lua_activity

    async def shutdown(self, timeout: float = 10) -> None:
        C.unregister(self.ctx)
        if self.worker is not None and self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(self.worker.shutdown(), timeout)
            except Exception:
                self._task.cancel()

    def close(self) -> None:
        self.closed = True
        C.unregister(self.ctx)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        for t in list(self._watches) + list(self._chains.values()) + list(self._starts.values()):
            t.cancel()

    # ------------------------------------------------------------------ host API (node)
    def pid(self, wid: str) -> str:
        return self.ctx.pid(wid)

    def _wid(self, pid: str) -> str | None:
        _, worker, wid = C.split_pid(pid)
        return wid if worker == self.worker_id else None

    def spawn(self, entry_id: str, args: list, *, watcher: str | None = None, monitored: bool = False,
              linked: bool = False, name: str | None = None, ctx: dict | None = None, py_watch: bool = False) -> str:
        return self.spawn_with_options(entry_id, args, caller=watcher, monitored=monitored, linked=linked,
                                       name=name, options={"ctx": ctx} if ctx else {})

    def spawn_with_options(self, entry_id: str, args: list, *, caller: str | None = None, monitored: bool = False,
                           linked: bool = False, name: str | None = None, options: dict | None = None) -> str:
        if self.client is None or self.closed:
            raise WippyError(UNAVAILABLE, f"temporal worker {self.worker_id} is not connected")
        entry = self.runtime.registry.get(entry_id)
        if entry is None or entry.kind != C.WORKFLOW_KIND:
            raise WippyError(NOT_FOUND, f"workflow {entry_id} not found (a workflow.lua entry)")
        options = options or {}
        wid, kw = start_options(options.get("opts"))
        name = name or options.get("name")
        if wid is None and name:
            wid = str(name)
        if wid is not None:
            kw.setdefault("id_conflict_policy", WorkflowIDConflictPolicy.USE_EXISTING)
        else:
            wid = str(uuid.uuid4())
        kw = {k: v for k, v in kw.items() if not k.startswith("_")}
        kw.setdefault("task_queue", C.workflow_worker(entry) and self.ctx.queue_of(C.workflow_worker(entry)) or self.task_queue)
        messages = list(options.get("messages") or [])
        if messages:
            first = messages.pop(0)
            kw["start_signal"] = first["topic"]
            kw["start_signal_args"] = [first.get("payload"), caller]
        pid = self.pid(wid)
        client = self.client

        async def start():
            return await client.start_workflow(entry_id, args=list(args), id=wid, **kw)
        task = asyncio.get_running_loop().create_task(start())
        self._starts[wid] = task
        task.add_done_callback(lambda t: self._started(wid, t))
        for m in messages:
            self.deliver(pid, m["topic"], caller, m.get("payload"))
        if caller and (monitored or linked):
            self.add_monitor(pid, caller, link=linked and not monitored)
        return pid

    def _started(self, wid: str, task: asyncio.Task) -> None:
        if self._starts.get(wid) is task:
            del self._starts[wid]
        if not task.cancelled() and task.exception() is not None:
            log.error("workflow %s did not start: %s", wid, task.exception())

    def _chain(self, key: str, make) -> None:
        prev = self._chains.get(key)
        start = self._starts.get(key)

        async def step():
            if prev is not None:
                try:
                    await prev
                except BaseException:
                    pass
            if start is not None:
                try:
                    await start
                except BaseException:
                    return
            try:
                await make()
            except Exception as e:
                log.warning("temporal %s: %s", key, e)
        task = asyncio.get_running_loop().create_task(step())
        self._chains[key] = task
        task.add_done_callback(lambda t: self._chains.get(key) is t and self._chains.pop(key, None))

    def deliver(self, pid: str, topic: str, frm: str | None, value: Any) -> bool:
        wid = self._wid(pid)
        if wid is None or self.client is None:
            return False
        handle = self.client.get_workflow_handle(wid)
        self._chain(wid, lambda: handle.signal(topic, args=[value, frm]))
        return True

    def deliver_event(self, pid: str, event: dict) -> bool:
        return False

    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool:
        wid = self._wid(pid)
        if wid is None or self.client is None:
            return False
        handle = self.client.get_workflow_handle(wid)
        self._chain(wid, handle.cancel)
        return True

    def terminate(self, pid: str, reason: str = "terminated") -> bool:
        wid = self._wid(pid)
        if wid is None or self.client is None:
            return False
        handle = self.client.get_workflow_handle(wid)
        self._chain(wid, lambda: handle.terminate(reason=reason))
        return True

    def add_monitor(self, pid: str, watcher: str, link: bool = False) -> bool:
        wid = self._wid(pid)
        if wid is None or self.client is None:
            return False
        start = self._starts.get(wid)
        client = self.client
        node = self.runtime.node

        async def watch():
            err = None
            value = None
            if start is not None:
                try:
                    await start
                except BaseException as e:
                    err = from_failure(e) if not isinstance(e, asyncio.CancelledError) else None
                    if err is None:
                        return
            if err is None:
                try:
                    value = await client.get_workflow_handle(wid).result()
                except WorkflowFailureError as e:
                    err = from_failure(e.cause)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    err = from_failure(e)
            if link:
                if err is not None:
                    node.route_event(watcher, {"kind": "pid.link.down", "type": "pid.link.down", "from": pid,
                                               "result": {"error": err}})
                return
            node.route_event(watcher, {"kind": "pid.exit", "type": "pid.exit", "from": pid,
                                       "result": {"value": value, "error": err}})
        task = asyncio.get_running_loop().create_task(watch())
        self._watches.add(task)
        task.add_done_callback(self._watches.discard)
        return True

    def remove_monitor(self, pid: str, watcher: str) -> None:
        pass  # the end of a workflow is reported once; a removed monitor just ignores it
