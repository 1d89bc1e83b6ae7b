"""terminal.host: a host wired to stdin/stdout that runs one CLI process."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.lifecycle import HostLifecycle


class TerminalHost(KindModel):
    kind = "terminal.host"

    hide_logs: bool = Field(False, description="Drop the log records (logger module) of the processes on this host.")
    lifecycle: HostLifecycle = Field(default_factory=HostLifecycle, description="When the host opens.")

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)
