"""function.lua, process.lua, library.lua: code that compiles, lazily, in each engine.

Applying one checks that the (typed) Lua parses (a syntax error rejects the change, naming the
entry and line). Once committed, compiled copies of the old version are dropped
(Runtime.after_commit), so the next call or spawn runs the new code while calls in flight
finish on the old.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from ...lang import SyntaxChecker
from ...registry import Op, Rejected

if TYPE_CHECKING:
    from ...runtime import Runtime

# globals that may also be listed in `modules:` (lua/entries.md)
_LISTABLE_GLOBALS = {"print", "subscribe", "unsubscribe"}


def unknown_module(names: list) -> str | None:
    """Why a `modules:` list cannot work here: a name no module has (with the closest one)."""
    from ...modules import BY_NAME, INTERNAL
    known = (set(BY_NAME) - INTERNAL) | _LISTABLE_GLOBALS
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(str(name), sorted(known), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            return f"unknown module '{name}' in modules{hint}"
    return None


class LuaCodeHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self._checker = SyntaxChecker()

    def syntax_error(self, entry_id: str, source: str) -> str | None:
        return self._checker.error(entry_id, source)

    async def apply(self, op: Op) -> None:
        if op.action != "delete":
            data = op.entry.data or {}
            err = self.syntax_error(op.entry.id, data.get("source", ""))
            if err:
                raise Rejected(f"Lua syntax error: {err}")
            unknown = unknown_module(data.get("modules") or [])
            if unknown:
                raise Rejected(unknown)
