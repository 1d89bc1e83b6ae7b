"""process.host: a Lua engine (one Lua state with its own scheduler and limits)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...engine.engine import DEFAULT_SLICE_TIMEOUT, Engine
from ...kinds.models.process import ProcessHost, SandboxLimits
from ...kinds.models.terminal import TerminalHost
from ...registry import Op

if TYPE_CHECKING:
    from ...runtime import Runtime


def engine_options(model: ProcessHost | TerminalHost) -> dict:
    limits = getattr(model, "limits", None) or SandboxLimits()
    host = getattr(model, "host", None)
    return {
        "slice_timeout": limits.slice_timeout if limits.slice_timeout is not None else DEFAULT_SLICE_TIMEOUT,
        "max_instructions": limits.max_instructions or 0,
        "max_memory": int(limits.max_memory) if limits.max_memory else None,
        "max_processes": (host.max_processes if host else None) or 0,
    }


class ProcessHostHandler:
    terminal = False

    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        node = self.runtime.node
        host_id = op.entry.id
        if op.action == "delete":
            engine = node.remove_host(host_id)
            if engine is not None:
                engine.close()
            return
        opts = engine_options(self.runtime.decode(op.entry))
        existing = node.hosts.get(host_id)
        if existing is not None:
            existing.reconfigure(**opts)
            return
        node.add_host(host_id, Engine(node, host_id, terminal=self.terminal, **opts))


class TerminalHostHandler(ProcessHostHandler):
    """terminal.host: a host whose processes may use stdin/stdout through `io`."""
    terminal = True
