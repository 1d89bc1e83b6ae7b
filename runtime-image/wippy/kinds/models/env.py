"""Environment kinds: storages and variables."""

from __future__ import annotations

from pydantic import Field

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.types import EntryRef
from wippy.registry.entry import resolve_ref


class MemoryStorage(KindModel):
    kind = "env.storage.memory"


class OsStorage(KindModel):
    kind = "env.storage.os"

    prefix: str = Field("", description="Only variables with this prefix are visible (prefix stripped).")


class FileStorage(KindModel):
    kind = "env.storage.file"

    file_path: str = Field(description=".env-style file (KEY=value lines), relative to the app folder.")
    auto_create: bool = Field(False, description="Create the file (and its directory) if missing.")
    file_mode: str = Field("0600", pattern=r"^0?[0-7]{3,4}$", description="Mode of a created file.")
    dir_mode: str = Field("0700", pattern=r"^0?[0-7]{3,4}$", description="Mode of a created directory.")


class StaticStorage(KindModel):
    kind = "env.storage.static"

    values: dict[str, str] = Field(default_factory=dict, description="Fixed read-only values.")


class RouterStorage(KindModel):
    kind = "env.storage.router"

    storages: list[EntryRef] = Field(min_length=1, description="Storages in order: reads take the first hit, writes go to the first writable.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(s, entry_ns) for s in self.storages}


class Variable(KindModel):
    kind = "env.variable"

    variable: str = Field("", description="Name of the variable in its storage (defaults to the entry name).")
    storage: EntryRef | None = Field(None, description="env.storage.* entry holding it (default: the OS environment).")
    default: str | None = Field(None, description="Value when the storage has none.")
    readonly: bool = Field(False, description="Refuse env.set on it.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.storage, entry_ns)} if self.storage else set()
