"""process.host: a Lua engine (one Lua state with its own scheduler and limits)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...engine.engine import Engine, Limits
from ...kinds.models.process import ProcessHost, SandboxLimits
from ...kinds.models.terminal import TerminalHost
from ...registry import Op

if TYPE_CHECKING:
    from ...runtime import Runtime


def _or(value, default):
    return default if value is None else value


def engine_options(model: ProcessHost | TerminalHost) -> dict:
    """A host's limits, the defaults of engine.Limits where unset (0 = no limit)."""
    limits = getattr(model, "limits", None) or SandboxLimits()
    host = getattr(model, "host", None)
    return {
        "slice_timeout": _or(limits.slice_timeout, Limits.slice_timeout),
        "max_instructions": _or(limits.max_instructions, Limits.max_instructions),
        "max_memory": int(_or(limits.max_memory, Limits.max_memory)),
        "max_processes": _or(host.max_processes if host else None, Limits.max_processes),
        "max_mailbox": _or(getattr(limits, "max_mailbox", None), Limits.max_mailbox),
        "max_timers": _or(getattr(limits, "max_timers", None), Limits.max_timers),
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
