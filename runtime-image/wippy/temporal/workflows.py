"""The Temporal workflow class that runs every workflow.lua entry (workflow type = entry id).

This module is imported inside temporalio's sandbox; everything heavy lives in passed-through
wippy modules (lupa's concrete backend `lupa.lua54` included), see kubernetes-notes §6.
"""

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from wippy.temporal import wfcore


@workflow.defn(dynamic=True)
class LuaWorkflow:
    def __init__(self) -> None:
        self._run = wfcore.Run()

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        conv = workflow.payload_converter()
        return await self._run.run([conv.from_payload(a.payload) for a in args])

    @workflow.signal(dynamic=True)
    def signal(self, name: str, args: Sequence[RawValue]) -> None:
        conv = workflow.payload_converter()
        vals = [conv.from_payload(a.payload) for a in args]
        # Wippy sends (payload, from pid); other clients may send one value
        value = vals[0] if vals else None
        frm = vals[1] if len(vals) == 2 and (vals[1] is None or isinstance(vals[1], str)) else None
        if len(vals) > 2 or (len(vals) == 2 and frm is None and vals[1] is not None):
            value = vals
        self._run.signal(name, value, frm)
