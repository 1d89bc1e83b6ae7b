"""queue.driver.*, queue.queue, queue.consumer (wippy.data.queue).

Drivers and queues are built when applied; a consumer starts only once its change is
committed (a rejected changeset never starts one): the start waits for the registry's
change to finish and checks the consumer is still the current one. Changing a consumer
restarts it; messages it held go back to the queue."""
from __future__ import annotations

import asyncio

from ...data.handler import ResourceHandler
from ...registry import Op


class QueueHandler(ResourceHandler):
    async def apply(self, op: Op) -> None:
        await super().apply(op)
        if op.action != "delete" and op.entry.kind == "queue.consumer":
            obj = self.resources.objects.get(op.entry.id)
            asyncio.get_running_loop().create_task(self._start_after_commit(op.entry.id, obj))

    async def _start_after_commit(self, eid, obj) -> None:
        lock = getattr(self.runtime.registry, "_lock", None)
        if lock is not None:
            async with lock:
                pass
        if self.resources.objects.get(eid) is obj and obj is not None and not obj.stopping:
            obj.start()
