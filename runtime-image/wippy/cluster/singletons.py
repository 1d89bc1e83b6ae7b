"""Services placed once per app (`placement: singleton` on a process.service): each has a Lease,
and only the node holding it runs the service. When that node goes, another takes the Lease
(leases.py: at once when the node leaves the app's peers or restarts, else when the Lease
expires) and starts the service there."""
from __future__ import annotations

import asyncio
import hashlib
import logging

from .leases import LeaseElector

log = logging.getLogger("wippy.cluster.singletons")


def lease_name(app: str, service_id: str) -> str:
    return f"{app}-svc-{hashlib.sha256(service_id.encode()).hexdigest()[:24]}"


class Singletons:
    def __init__(self, cluster, api, supervisor):
        self.cluster, self.api, self.supervisor = cluster, api, supervisor
        self.electors: dict[str, LeaseElector] = {}

    def claim(self, service_id: str) -> None:
        """Run the service here while this node holds its Lease."""
        el = self.electors.get(service_id)
        if el is not None:
            if el.leading:
                self.supervisor.start(service_id)
            return
        sup = self.supervisor

        def lead(sid=service_id):
            if sid in sup.services:
                log.info("singleton %s: runs on this node", sid)
                sup.start(sid)

        def lose(sid=service_id):
            if sid in sup.services:
                log.info("singleton %s: stops on this node (its Lease is held elsewhere)", sid)
                asyncio.get_running_loop().create_task(sup.stop(sid))

        el = LeaseElector(self.cluster, self.api, lease_name(self.cluster.app, service_id),
                          labels={"wippy.ai/cluster-object": "singleton"}, on_lead=lead, on_lose=lose)
        self.electors[service_id] = el
        el.start()

    async def release(self, service_id: str) -> None:
        el = self.electors.pop(service_id, None)
        if el is not None:
            await el.close()

    def holder(self, service_id: str) -> str | None:
        el = self.electors.get(service_id)
        return el.holder_node() if el is not None else None

    async def close(self) -> None:
        for sid in list(self.electors):
            await self.release(sid)
