"""The registry entry: ``namespace:name``, a kind, free-form meta and data."""

from __future__ import annotations

import re

import copy
import os
from dataclasses import dataclass, field
from typing import Any


class InvalidEntryId(ValueError):
    """An id that is not ``namespace:name`` with exactly one ':' and allowed characters."""


MAX_ID_LENGTH = 255
# Namespaces and names are dot-separated segments of letters, digits, '_' and '-' (Wippy's
# naming: dots separate semantic parts, underscores words). No '/', '..', spaces or control
# characters: ids become file names, Kubernetes names and log lines.
_SEGMENTS = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")


def parse_id(entry_id: str) -> tuple[str, str]:
    """Split ``ns:name``; both parts are dot-separated segments of ``[A-Za-z0-9_-]`` and there is
    exactly one ':'; at most MAX_ID_LENGTH characters."""
    if not isinstance(entry_id, str):
        raise InvalidEntryId(f"invalid entry id {entry_id!r}: expected a string 'namespace:name'")
    if len(entry_id) > MAX_ID_LENGTH:
        raise InvalidEntryId(f"invalid entry id {entry_id[:40]!r}...: longer than {MAX_ID_LENGTH} characters")
    ns, sep, name = entry_id.partition(":")
    if not sep or not ns or not name or ":" in name:
        raise InvalidEntryId(f"invalid entry id {entry_id!r}: expected 'namespace:name' with exactly one ':'")
    for part, what in ((ns, "namespace"), (name, "name")):
        if not _SEGMENTS.fullmatch(part):
            raise InvalidEntryId(f"invalid entry id {entry_id!r}: the {what} must be dot-separated words of "
                                 "letters, digits, '_' and '-'")
    return ns, name


def resolve_ref(ref: str, ns: str) -> str:
    """A bare name refers to an entry in the referrer's namespace ``ns``."""
    if ":" in ref:
        parse_id(ref)
        return ref
    return f"{ns}:{ref}"


@dataclass(frozen=True)
class SourceLocation:
    """Where an entry was declared; ``file`` is absolute for files on disk."""

    file: str
    line: int | None = None

    def __str__(self) -> str:
        shown = _display_path(self.file)
        return f"{shown}:{self.line}" if self.line is not None else shown


def _display_path(path: str) -> str:
    # Messages read better relative to where the user ran the command.
    if os.path.isabs(path):
        try:
            rel = os.path.relpath(path)
        except ValueError:  # different drive on Windows
            return path
        if not rel.startswith(".."):
            return rel
    return path


@dataclass(frozen=True)
class Entry:
    """Treat meta and data as immutable: the registry shares entries between versions."""

    id: str
    kind: str
    meta: dict = field(default_factory=dict)
    data: Any = None
    # Where it came from is not part of what the entry is.
    source: SourceLocation | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        parse_id(self.id)
        if not isinstance(self.kind, str):
            raise ValueError(f"entry {self.id}: kind must be a string, got {self.kind!r}")
        if not isinstance(self.meta, dict):
            raise ValueError(f"entry {self.id}: meta must be a mapping, got {type(self.meta).__name__}")

    @property
    def ns(self) -> str:
        return parse_id(self.id)[0]

    @property
    def name(self) -> str:
        return parse_id(self.id)[1]

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "kind": self.kind,
            "meta": copy.deepcopy(self.meta),
            "data": copy.deepcopy(self.data),
        }

    @classmethod
    def from_dict(cls, d: dict, source: SourceLocation | None = None) -> Entry:
        """Accept ``{id, kind, meta, data}`` or ``{namespace, name, kind, meta, data}``."""
        if "id" in d:
            entry_id = d["id"]
        elif "namespace" in d and "name" in d:
            entry_id = f"{d['namespace']}:{d['name']}"
        else:
            raise InvalidEntryId(f"entry {d!r} has neither 'id' nor 'namespace' and 'name'")
        if "kind" not in d:
            raise ValueError(f"entry {entry_id}: missing 'kind'")
        return cls(
            id=entry_id,
            kind=d["kind"],
            meta=copy.deepcopy(d.get("meta") or {}),
            data=copy.deepcopy(d.get("data")),
            source=source,
        )

    def copy(self) -> Entry:
        """A deep copy, so a caller mutating its dicts cannot alter stored state."""
        return Entry(self.id, self.kind, copy.deepcopy(self.meta), copy.deepcopy(self.data), self.source)
