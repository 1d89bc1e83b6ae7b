"""The kind handler shared by data resources: build on create, swap on update (the old
resource retires: work in flight finishes on it, for at most lifecycle.stop_timeout), retire
on delete. A resource that cannot be built (bad path, bad settings) rejects the change with a
clear message; with lifecycle.auto_start it is also opened (connected) at once, within
lifecycle.start_timeout, and one that cannot open rejects the change too (startup: optional:
logged only)."""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..engine.errors import WippyError
from ..registry import Op, Rejected
from . import Resources

log = logging.getLogger("wippy.data")

if TYPE_CHECKING:
    from ..runtime import Runtime


class ResourceHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self.resources = Resources.of(runtime.node)
        self.resources.base_dir = runtime.app_dir
        self.resources.runtime = runtime
        if not self.resources.registry_events:
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
        model = self.runtime.decode(op.entry)    # with its ${env:...} placeholders resolved
        try:
            obj = self.resources.build(op.entry, model)
        except WippyError as e:
            raise Rejected(f"{op.entry.kind}: {e.message}") from None
        lifecycle = getattr(model, "lifecycle", None)
        if lifecycle is not None:
            obj.stop_timeout = lifecycle.stop_timeout
            if lifecycle.auto_start:
                await self._open(op, obj, lifecycle)
        self.resources.put(eid, obj)

    async def _open(self, op: Op, obj, lifecycle) -> None:
        open_ = getattr(obj, "open", None)
        if open_ is None:
            return  # nothing to connect to: ready as built
        task = asyncio.ensure_future(open_())
        done, _ = await asyncio.wait({task}, timeout=lifecycle.start_timeout)
        if not done:
            task.cancel()   # drivers may answer a cancel with their own error: the timeout is the reason
            await asyncio.gather(task, return_exceptions=True)
            problem = f"did not open within start_timeout {lifecycle.start_timeout:g}s"
        elif task.exception() is None:
            return
        else:
            e = task.exception()
            problem = e.message if isinstance(e, WippyError) else (str(e) or type(e).__name__)
        if lifecycle.startup == "optional":
            log.warning("%s: %s; it opens on first use (startup: optional)", op.entry.id, problem)
            return
        close = getattr(obj, "retire", None) or getattr(obj, "close", None)
        if close is not None:
            result = close()
            if asyncio.iscoroutine(result):
                await result
        raise Rejected(f"{op.entry.kind}: could not start: {problem}")
