"""terminal.host: a host wired to stdin/stdout that runs one CLI process."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.lifecycle import Lifecycle


class TerminalHost(KindModel):
    kind = "terminal.host"

    hide_logs: bool = Field(False, description="Keep runtime logs off the terminal.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Supervision of the host.")

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)
