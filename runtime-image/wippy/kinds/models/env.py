"""Environment kinds: storages and variables."""

from __future__ import annotations

from pydantic import Field, model_validator

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.lifecycle import ResourceModel
from wippy.kinds.models.types import EntryRef, FileMode
from wippy.registry.entry import resolve_ref


class MemoryStorage(ResourceModel):
    kind = "env.storage.memory"


class OsStorage(ResourceModel):
    kind = "env.storage.os"

    prefix: str = Field("", description="Only variables with this prefix are visible (prefix stripped).")


class FileStorage(ResourceModel):
    kind = "env.storage.file"

    file_path: str = Field(description=".env-style file (KEY=value lines), relative to the app folder.")
    auto_create: bool = Field(False, description="Create the file (and its directory) if missing.")
    file_mode: FileMode = Field(0o600, description="Mode of a created file (0600, or \"0600\").")
    dir_mode: FileMode = Field(0o700, description="Mode of a created directory (0700, or \"0700\").")


class StaticStorage(ResourceModel):
    kind = "env.storage.static"

    values: dict[str, str] = Field(default_factory=dict, description="Fixed read-only values.")


class RouterStorage(ResourceModel):
    kind = "env.storage.router"

    storages: list[EntryRef] = Field(min_length=1, description="Storages in order: reads take the first hit, writes go to the first writable.")

    def references(self, entry_ns: str) -> set[str]:
        return super().references(entry_ns) | {resolve_ref(s, entry_ns) for s in self.storages}


class Variable(KindModel):
    kind = "env.variable"

    variable: str = Field("", description="Name of the variable in its storage (defaults to the entry name).")
    storage: EntryRef | None = Field(None, description="env.storage.* entry holding it (default: the OS environment).")
    default: str | None = Field(None, description="Value when the storage has none.")
    readonly: bool = Field(False, description="Refuse env.set on it.")
    read_only: bool = Field(False, description="Same as readonly (either one set makes the variable read-only).")

    @model_validator(mode="after")
    def _either_spelling(self) -> Variable:
        self.readonly = self.read_only = self.readonly or self.read_only
        return self

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.storage, entry_ns)} if self.storage else set()
