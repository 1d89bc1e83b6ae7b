"""function.lua, process.lua, library.lua: code that compiles, lazily, in each engine.

Applying one checks that the (typed) Lua parses (a syntax error rejects the change, naming the
entry and line). Once committed, compiled copies of the old version are dropped
(Runtime.after_commit), so the next call or spawn runs the new code while calls in flight
finish on the old.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...lang import SyntaxChecker
from ...registry import Op, Rejected

if TYPE_CHECKING:
    from ...runtime import Runtime

class LuaCodeHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self._checker = SyntaxChecker()

    def syntax_error(self, entry_id: str, source: str) -> str | None:
        return self._checker.error(entry_id, source)

    async def apply(self, op: Op) -> None:
        if op.action != "delete":
            source = (op.entry.data or {}).get("source", "")
            err = self.syntax_error(op.entry.id, source)
            if err:
                raise Rejected(f"Lua syntax error: {err}")
