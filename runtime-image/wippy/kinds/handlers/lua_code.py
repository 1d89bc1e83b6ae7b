"""function.lua, process.lua, library.lua: code that compiles, lazily, in each engine.

Applying one checks that the Lua parses (a syntax error rejects the change, naming the
entry and line). Once committed, compiled copies of the old version are dropped
(Runtime.after_commit), so the next call or spawn runs the new code while calls in flight
finish on the old.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from lupa import lua54

from ...registry import Op, Rejected

if TYPE_CHECKING:
    from ...runtime import Runtime

_WRAP = "return function(_ENV, ...) {src}\nend"


class LuaCodeHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self._checker = lua54.LuaRuntime(register_eval=False, register_builtins=False)
        self._load = self._checker.eval("function(src, name) local f, err = load(src, name, 't', {}); return err end")

    def syntax_error(self, entry_id: str, source: str) -> str | None:
        if source.startswith("#"):
            source = "--" + source
        return self._load(_WRAP.format(src=source), "=" + entry_id)

    async def apply(self, op: Op) -> None:
        if op.action != "delete":
            source = (op.entry.data or {}).get("source", "")
            err = self.syntax_error(op.entry.id, source)
            if err:
                raise Rejected(f"Lua syntax error: {err}")
