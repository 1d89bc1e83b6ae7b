"""Lua code kinds: function.lua, process.lua, library.lua, module.lua."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel
from wippy.kinds.models.types import EntryRef, ModuleName
from wippy.registry.entry import resolve_ref


class LuaCode(KindModel):
    source: str = Field(description="Lua source text; 'file://path' in a definition file is replaced by that file's content.")
    modules: list[ModuleName] = Field(default_factory=list, description="Built-in modules the code may require().")
    imports: dict[str, EntryRef] = Field(
        default_factory=dict, description="Alias -> library.lua entry, available as require(alias)."
    )

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(target, entry_ns) for target in self.imports.values()}


class LibraryLua(LuaCode):
    kind = "library.lua"


class ModuleLua(LuaCode):
    """A module surface: code whose returned table of functions other entries import (`imports`),
    like a library.lua."""

    kind = "module.lua"


class Pool(ConfigModel):
    model_config = ConfigDict(json_schema_extra=cel(
        ("!has(self.buffer)", "pool.buffer is not supported here: a call never queues for a VM (each call runs "
         "as a coroutine; idle instances are reused up to the pool's size)"),
        ("!has(self.warm_start) || !self.warm_start",
         "pool.warm_start is not supported here: instances are created on first call")))
    type: Literal["inline", "lazy", "static", "adaptive"] | None = Field(
        None, description="VM pool strategy; unset picks 'static' when workers is set, else 'lazy'."
    )
    workers: int | None = Field(None, ge=1, description="Fixed number of VMs for a static pool (default: size, else 8).")
    size: int | None = Field(None, ge=1, description="Pool size; fallback for workers.")
    buffer: int | None = Field(None, ge=1, description="Not supported: calls never wait for a VM here.")
    max_size: int = Field(16, ge=1, description="Most VMs a lazy or adaptive pool grows to.")
    warm_start: bool = Field(False, description="Not supported (must stay false): instances are made on first call.")

    @model_validator(mode="after")
    def _auto_select(self) -> Pool:
        if self.buffer is not None:
            raise ValueError("pool.buffer is not supported here: a call never queues for a VM (each call runs "
                             "as a coroutine; idle instances are reused up to the pool's size)")
        if self.warm_start:
            raise ValueError("pool.warm_start is not supported here: instances are created on first call")
        kind = self.type or ("static" if self.workers is not None else "lazy")
        self.type = kind
        if kind == "static":
            workers = self.workers or self.size or 8
            self.workers = workers
        return self


class FunctionLua(LuaCode):
    kind = "function.lua"
    model_config = ConfigDict(json_schema_extra=cel(
        ("!has(self.security)", "security on a function.lua is not supported: a function runs under its caller's "
         "actor and scope (system/security.md: functions inherit the caller's context); give an identity to the "
         "process.service or http.service that calls it (lifecycle.security)")))

    method: str = Field(min_length=1, description="Function the chunk's returned table provides (ignored if the chunk returns a function).")
    pool: Pool = Field(default_factory=Pool, description="How calls are spread over Lua VMs.")
    security: dict | None = Field(None, description="Not supported: a function runs under its caller's actor and scope.")

    @field_validator("security")
    @classmethod
    def _inherits(cls, security: dict | None) -> dict | None:
        if security is not None:
            raise ValueError("security on a function.lua is not supported: a function runs under its caller's "
                             "actor and scope (system/security.md: functions inherit the caller's context); give "
                             "an identity to the process.service or http.service that calls it (lifecycle.security)")
        return security


class ProcessLua(LuaCode):
    kind = "process.lua"

    method: str = Field(min_length=1, description="Entry function of the process.")
