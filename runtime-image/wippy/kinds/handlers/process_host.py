"""process.host: a Lua engine (one Lua state with its own scheduler and limits).

A host is a supervised service: it opens (joins the node, so processes can be spawned on it)
when its lifecycle lets it: at once with auto_start once the services it requires run, else when
a service that runs on it or requires it starts, or a command runs on it. Removing it closes it."""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ...engine.engine import Engine, Limits
from ...kinds.models.process import ProcessHost, SandboxLimits
from ...kinds.models.terminal import TerminalHost
from ...registry import Op
from ...supervisor.supervisor import python_service

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
        "busy_timeout": _or(getattr(limits, "busy_timeout", None), Limits.busy_timeout),
        **{name: int(_or(getattr(limits, name, None), getattr(Limits, name)))
           for name in ("max_convert_tables", "max_convert_values", "max_html_bytes", "max_schema_steps")},
    }


class ProcessHostHandler:
    terminal = False

    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self.engines: dict[str, Engine] = {}

    async def apply(self, op: Op) -> None:
        node, sup = self.runtime.node, self.runtime.supervisor
        host_id = op.entry.id
        if op.action == "delete":
            await sup.remove(host_id)
            engine = self.engines.pop(host_id, None)
            if engine is not None:
                self._close(host_id, engine)
            return
        model = self.runtime.decode(op.entry)
        opts = engine_options(model)
        engine = self.engines.get(host_id)
        if engine is not None:
            engine.reconfigure(**opts)
            engine.hide_logs = getattr(model, "hide_logs", False)
            sup.update(self._spec(host_id, model, engine))
            return
        engine = self.engines[host_id] = Engine(node, host_id, terminal=self.terminal, **opts)
        engine.hide_logs = getattr(model, "hide_logs", False)
        spec = self._spec(host_id, model, engine)
        if model.lifecycle.auto_start and not sup.unmet(spec):
            node.add_host(host_id, engine)   # open now: entries of the same change may spawn on it
        sup.add(spec)

    def _spec(self, host_id: str, model, engine: Engine):
        node = self.runtime.node

        async def run(ready) -> None:
            if node.hosts.get(host_id) is not engine:
                node.add_host(host_id, engine)
            ready()
            try:
                await asyncio.Event().wait()    # open until stopped
            finally:
                self._close(host_id, engine)
        return python_service(host_id, model.lifecycle, run)

    def _close(self, host_id: str, engine: Engine) -> None:
        if self.runtime.node.hosts.get(host_id) is engine:
            self.runtime.node.remove_host(host_id)
        engine.close()


class TerminalHostHandler(ProcessHostHandler):
    """terminal.host: a host whose processes may use stdin/stdout through `io`."""
    terminal = True
