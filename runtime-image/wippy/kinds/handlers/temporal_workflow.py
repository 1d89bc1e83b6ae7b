"""workflow.lua: Lua that Temporal runs durably. Applying one checks its syntax and that it
requires only deterministic or workflow modules, so a bad entry fails at load, not at replay."""
from __future__ import annotations

from ...registry import Op, Rejected
from .lua_code import LuaCodeHandler


class WorkflowLuaHandler(LuaCodeHandler):
    async def apply(self, op: Op) -> None:
        await super().apply(op)
        if op.action == "delete":
            return
        from ...temporal.wfcore import module_problem
        problem = module_problem(op.entry.id, (op.entry.data or {}).get("modules"))
        if problem:
            raise Rejected(problem)
