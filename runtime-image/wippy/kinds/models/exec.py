"""Executor kinds: exec.native (commands on the host OS, clean environment)."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel


class ExecNative(KindModel):
    kind = "exec.native"

    default_work_dir: str | None = Field(None, description="Working directory of every command (relative to the app folder).")
    default_env: dict[str, str] = Field(default_factory=dict, description="Environment of every command (merged with per-command env); nothing else is inherited.")
    command_whitelist: list[str] | None = Field(None, description="If set, only these exact commands may run.")
    max_processes: int = Field(16, ge=1, le=1024, description="Most commands of this executor running at once.")
