"""temporal.worker: a host for workflows (process.spawn on it starts one) and the temporalio
Worker running the app's workflow.lua entries and activities."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ...registry import Op, Rejected, resolve_ref

if TYPE_CHECKING:
    from ...runtime import Runtime


class TemporalWorkerHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        from ...temporal.host import TemporalClient, TemporalWorkerHost
        node = self.runtime.node
        wid = op.entry.id
        old = node.hosts.get(wid)
        if op.action == "delete":
            if isinstance(old, TemporalWorkerHost):
                node.remove_host(wid)
                await old.shutdown()
                old.close()
            return
        model = self.runtime.decode(op.entry)
        client_id = resolve_ref(model.client, op.entry.ns)
        client = node.hosts.get(client_id)
        if not isinstance(client, TemporalClient):
            raise Rejected(f"{wid}: temporal.client {client_id} not found")
        host = TemporalWorkerHost(self.runtime, wid, client, model.task_queue or wid,
                                  model.max_concurrent_workflow_tasks, model.max_concurrent_activities,
                                  model.worker_options.sdk_arguments())
        # bounded only when asked: a first start may include starting the dev server
        bound = model.lifecycle.start_timeout if "start_timeout" in model.lifecycle.model_fields_set else None
        try:
            await asyncio.wait_for(host.start(), bound)
        except asyncio.TimeoutError:
            host.close()
            raise Rejected(f"temporal.worker: did not start within start_timeout {model.lifecycle.start_timeout:g}s") from None
        if isinstance(old, TemporalWorkerHost):
            await old.shutdown()
            old.close()
        node.add_host(wid, host)
