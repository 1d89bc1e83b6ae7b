"""terminal.host: a host wired to stdin/stdout that runs one CLI process."""

from __future__ import annotations

from pydantic import Field, field_validator

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.lifecycle import HostLifecycle


class TerminalHost(KindModel):
    kind = "terminal.host"

    hide_logs: bool = Field(False, description="Not supported (must stay false): the runtime's log is the CLI's stderr.")
    lifecycle: HostLifecycle = Field(default_factory=HostLifecycle, description="When the host opens.")

    @field_validator("hide_logs")
    @classmethod
    def _no_hiding(cls, hide: bool) -> bool:
        if hide:
            raise ValueError("hide_logs is not supported here: the runtime's log goes to the CLI's stderr; "
                             "quiet it with `wippy -s` or --log-level")
        return hide

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)
