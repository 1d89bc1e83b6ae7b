"""temporal.worker: a host for workflows (process.spawn on it starts one) and the temporalio
Worker running the app's workflow.lua entries and activities.

A worker is a supervised service: with lifecycle.auto_start it starts when applied (a start that
does not finish within start_timeout refuses the entry); without it (the docs' default) it starts
when a service that requires it starts. A changed worker replaces the running one."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ...registry import Op, Rejected, resolve_ref
from ...supervisor.supervisor import python_service

if TYPE_CHECKING:
    from ...runtime import Runtime
    from ...temporal.host import TemporalWorkerHost


class TemporalWorkerHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        from ...temporal.host import TemporalClient, TemporalWorkerHost
        node, sup = self.runtime.node, self.runtime.supervisor
        wid = op.entry.id
        if op.action == "delete":
            await sup.remove(wid)
            self._close(wid, node.hosts.get(wid))
            return
        model = self.runtime.decode(op.entry)
        client_id = resolve_ref(model.client, op.entry.ns)
        client = node.hosts.get(client_id)
        if not isinstance(client, TemporalClient):
            raise Rejected(f"{wid}: temporal.client {client_id} not found")
        host = TemporalWorkerHost(self.runtime, wid, client, model.task_queue or wid,
                                  model.max_concurrent_workflow_tasks, model.max_concurrent_activities,
                                  model.worker_options.sdk_arguments())
        spec = self._spec(wid, model, host)
        # entries it requires come first in a change; only services that do not run yet delay it
        started = model.lifecycle.auto_start and not [r for r in sup.unmet(spec) if r in sup.services]
        if started:
            # bounded only when asked: a first start may include starting the dev server
            bound = model.lifecycle.start_timeout if "start_timeout" in model.lifecycle.model_fields_set else None
            try:
                await asyncio.wait_for(host.start(), bound)
            except asyncio.TimeoutError:
                host.close()
                raise Rejected(f"temporal.worker: did not start within start_timeout "
                               f"{model.lifecycle.start_timeout:g}s") from None
        await sup.remove(wid)                     # the previous version stops (its run closes its host)
        self._close(wid, node.hosts.get(wid))
        if started:
            node.add_host(wid, host)              # started above: workflows may be spawned on it at once
        sup.add(spec)

    def _spec(self, wid: str, model, host: "TemporalWorkerHost"):
        node = self.runtime.node

        async def run(ready) -> None:
            if node.hosts.get(wid) is not host:
                await host.start()
                node.add_host(wid, host)
            ready()
            try:
                await asyncio.Event().wait()     # polls until stopped
            finally:
                await host.shutdown(model.lifecycle.stop_timeout)
                self._close(wid, host)
        return python_service(wid, model.lifecycle, run)

    def _close(self, wid: str, host) -> None:
        from ...temporal.host import TemporalWorkerHost
        if not isinstance(host, TemporalWorkerHost):
            return
        if self.runtime.node.hosts.get(wid) is host:
            self.runtime.node.remove_host(wid)
        host.close()
