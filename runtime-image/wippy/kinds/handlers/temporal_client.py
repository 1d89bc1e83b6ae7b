"""temporal.client: a connection to Temporal (or the embedded dev server, started on first use)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...registry import Op

if TYPE_CHECKING:
    from ...runtime import Runtime


class TemporalClientHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        from ...temporal.host import TemporalClient
        node = self.runtime.node
        cid = op.entry.id
        old = node.hosts.get(cid)
        if op.action == "delete":
            if isinstance(old, TemporalClient):
                node.remove_host(cid)
                old.close()
            return
        model = self.runtime.decode(op.entry)
        address = model.address or self.runtime.env_lookup("TEMPORAL_ADDRESS")
        if isinstance(old, TemporalClient) and (old.address, old.namespace) == (address, model.namespace):
            return
        data_dir = self.runtime.app_dir / ".wippy" if self.runtime.app_dir is not None else None
        from ...durations import parse_duration
        client = TemporalClient(cid, address, model.namespace, data_dir, parse_duration(model.connect_timeout))
        # registered under its id so that it is closed (dev server stopped) with the runtime
        node.add_host(cid, client)
        if old is not None:
            old.close()
