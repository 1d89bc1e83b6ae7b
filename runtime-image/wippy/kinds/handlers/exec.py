"""exec.native: an executor of granted commands (wippy.execs). A changed entry applies to
new commands; a deleted one kills the commands still running."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...execs import Executor, Executors
from ...registry import Op

if TYPE_CHECKING:
    from ...runtime import Runtime


class ExecHandler:
    def __init__(self, runtime: "Runtime"):
        self.executors = Executors.of(runtime.node)
        self.executors.base_dir = runtime.app_dir

    async def apply(self, op: Op) -> None:
        if op.action == "delete":
            self.executors.remove(op.entry.id)
            return
        from ..models.catalog import validate_entry
        model = validate_entry(op.entry)
        self.executors.put(op.entry.id, Executor(op.entry.id, model, self.executors.base_dir))
