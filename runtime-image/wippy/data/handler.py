"""The kind handler shared by data resources: build on create, swap on update (the old
resource retires: work in flight finishes on it), retire on delete. A resource that
cannot be built (bad path, bad settings) rejects the change with a clear message."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..engine.errors import WippyError
from ..registry import Op, Rejected
from . import Resources

if TYPE_CHECKING:
    from ..runtime import Runtime


class ResourceHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self.resources = Resources.of(runtime.node)
        self.resources.base_dir = runtime.app_dir
        self.resources.runtime = runtime
        if not getattr(self.resources, "registry_events", False):
            # registry changes are published on the event bus: system "registry"
            self.resources.registry_events = True
            bus = self.resources.bus

            def publish(version, ops):
                for op in ops:
                    bus.send("registry", f"entry.{op.action}", op.entry.id,
                             {"kind": op.entry.kind, "version": version})
            runtime.registry.subscribe(publish)

    async def apply(self, op: Op) -> None:
        eid = op.entry.id
        if op.action == "delete":
            self.resources.remove(eid)
            return
        try:
            obj = self.resources.build(op.entry)
        except WippyError as e:
            where = f"{op.entry.source}: " if op.entry.source else ""
            raise Rejected(f"{where}{eid} ({op.entry.kind}): {e.message}") from None
        self.resources.put(eid, obj)
