"""An immutable view of the registry at one version."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from wippy.registry.entry import Entry
from wippy.registry.finder import find


class Snapshot:
    def __init__(self, version: int, entries: Mapping[str, Entry]):
        # The registry never mutates a state dict once published, so sharing it is safe.
        self._version = version
        self._entries = entries if isinstance(entries, MappingProxyType) else MappingProxyType(dict(entries))

    def version(self) -> int:
        return self._version

    def get(self, entry_id: str) -> Entry | None:
        return self._entries.get(entry_id)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def find(self, filter: Mapping[str, Any]) -> list[Entry]:
        return find(self._entries.values(), filter)

    def namespace(self, ns: str) -> list[Entry]:
        return [e for e in self._entries.values() if e.ns == ns]

    def as_dict(self) -> Mapping[str, Entry]:
        return self._entries
