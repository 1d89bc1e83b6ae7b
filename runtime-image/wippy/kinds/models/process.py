"""Process hosting kinds: process.host and process.service."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.lifecycle import Lifecycle
from wippy.kinds.models.types import Duration, EntryRef, Size
from wippy.registry.entry import resolve_ref


class HostOptions(ConfigModel):
    workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1, ge=1, description="Scheduler workers (default: CPU count). Can change live."
    )
    queue_size: int = Field(1024, ge=1, description="Global run queue capacity.")
    local_queue_size: int = Field(256, ge=1, description="Per-worker run queue capacity.")
    max_processes: int | None = Field(None, ge=1, description="Most processes alive on the host at once (unset = no cap).")


class SandboxLimits(ConfigModel):
    max_instructions: int | None = Field(
        None, ge=1, description="Lua instructions one process may run before it must yield (unset = no limit)."
    )
    slice_timeout: Duration | None = Field(
        None,
        description="Time one process may run without yielding before it is ended (unset = 5s; 0 = no limit, "
        "which also spares tight loops the per-instruction check).",
    )
    max_memory: Size | None = Field(
        None,
        description="Memory the host's Lua state may hold, all its processes together, e.g. '64MiB'; the "
        "process whose allocation fails is ended (unset = no limit).",
    )


class ProcessHost(KindModel):
    kind = "process.host"

    host: HostOptions = Field(default_factory=HostOptions, description="Scheduler settings.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Supervision of the host.")
    limits: SandboxLimits = Field(default_factory=SandboxLimits, description="Sandbox limits for processes on this host.")

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)


class ProcessService(KindModel):
    kind = "process.service"

    process: EntryRef = Field(description="The process.lua entry to run.")
    host: EntryRef = Field(description="The process.host entry to run it on.")
    input: list[Any] = Field(default_factory=list, description="Arguments passed to the process's method.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Start, stop and restart policy.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.process, entry_ns), resolve_ref(self.host, entry_ns)} | self.lifecycle.references(entry_ns)
