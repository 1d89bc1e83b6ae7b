"""The versioned entry registry."""

from wippy.registry.changeset import ChangesetError, Op, diff, order, squash
from wippy.registry.entry import Entry, InvalidEntryId, SourceLocation, parse_id, resolve_ref
from wippy.registry.errors import ApplyError, Conflict, EntryError, Rejected
from wippy.registry.finder import compile_filter, find
from wippy.registry.history import ChangeSummary, History, MemoryHistory, SqliteHistory, VersionInfo
from wippy.registry.registry import NON_PROPAGATING_KINDS, KindHandler, Registry
from wippy.registry.snapshot import Snapshot
from wippy.registry.source import SyncedSource, SyncReport

__all__ = [
    "ApplyError", "ChangeSummary", "ChangesetError", "Conflict", "Entry", "EntryError", "History",
    "InvalidEntryId", "KindHandler", "MemoryHistory", "NON_PROPAGATING_KINDS", "Op", "Registry",
    "Rejected", "Snapshot", "SourceLocation", "SqliteHistory", "SyncReport", "SyncedSource",
    "VersionInfo", "compile_filter", "diff", "find", "order", "parse_id", "resolve_ref", "squash",
]
