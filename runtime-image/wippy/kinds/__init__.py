"""Kinds: what each registry entry becomes.

`models/` validates an entry's data (one pydantic model per kind); `handlers/` makes the
running system match it. HANDLERS below is the one place that maps a kind to its handler.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from .handlers.lua_code import LuaCodeHandler
from .handlers.process_host import ProcessHostHandler, TerminalHostHandler
from .handlers.process_service import ProcessServiceHandler
from .handlers.http_entries import HttpHandler
from .handlers.sql import SqlHandler
from .handlers.store import StoreHandler
from .handlers.queue import QueueHandler
from .handlers.env import EnvHandler
from .handlers.fs import FsHandler
from .handlers.templates import TemplateHandler
from .handlers.exec import ExecHandler
from .handlers.temporal_client import TemporalClientHandler
from .handlers.temporal_worker import TemporalWorkerHandler
from .handlers.temporal_workflow import WorkflowLuaHandler

if TYPE_CHECKING:
    from ..registry.registry import KindHandler
    from ..runtime import Runtime

LUA_CODE_KINDS = frozenset({"function.lua", "process.lua", "library.lua", "module.lua"})

HANDLERS: dict[str, Callable[["Runtime"], "KindHandler"]] = {
    "function.lua": LuaCodeHandler,
    "process.lua": LuaCodeHandler,
    "library.lua": LuaCodeHandler,
    "module.lua": LuaCodeHandler,
    "process.host": ProcessHostHandler,
    "terminal.host": TerminalHostHandler,
    "process.service": ProcessServiceHandler,
    "http.*": HttpHandler,
    "db.sql.*": SqlHandler,
    "store.*": StoreHandler,
    "queue.**": QueueHandler,
    "env.**": EnvHandler,
    "fs.*": FsHandler,
    "template.*": TemplateHandler,
    "exec.native": ExecHandler,
    "temporal.client": TemporalClientHandler,
    "temporal.worker": TemporalWorkerHandler,
    "workflow.lua": WorkflowLuaHandler,
}
