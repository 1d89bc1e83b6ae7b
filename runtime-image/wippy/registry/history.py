"""Version history: each committed changeset with its parent, plus a movable HEAD.

Changesets keep the previous entry of every update and delete, so any version
can be reached from any other by replaying or reversing changesets.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol, overload

from wippy.registry.changeset import Op
from wippy.registry.entry import Entry, SourceLocation


@dataclass(frozen=True)
class ChangeSummary:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    entry_ids: tuple[str, ...] = ()

    @classmethod
    def of(cls, ops: list[Op]) -> ChangeSummary:
        counts = Counter(op.action for op in ops)
        return cls(counts["create"], counts["update"], counts["delete"], tuple(op.id for op in ops))

    def __str__(self) -> str:
        return f"+{self.created} ~{self.updated} -{self.deleted}"


@dataclass(frozen=True)
class VersionInfo:
    id: int
    parent: int  # 0 = the empty registry
    created_at: datetime
    origin: str
    summary: ChangeSummary = field(default_factory=ChangeSummary)


class History(Protocol):
    def head(self) -> int: ...

    def commit(self, parent: int, origin: str, ops: list[Op]) -> VersionInfo:
        """Store a new version as a child of ``parent`` and make it HEAD, atomically."""

    def set_head(self, version_id: int) -> None: ...

    def versions(self) -> list[VersionInfo]: ...

    def changes_of(self, version_id: int) -> list[Op]: ...

    def close(self) -> None: ...


class MemoryHistory:
    """History for a single process lifetime (the runtime's default backend)."""

    def __init__(self) -> None:
        self._versions: dict[int, VersionInfo] = {}
        self._changes: dict[int, list[Op]] = {}
        self._head = 0

    def head(self) -> int:
        return self._head

    def commit(self, parent: int, origin: str, ops: list[Op]) -> VersionInfo:
        vid = max(self._versions, default=0) + 1
        info = VersionInfo(vid, parent, datetime.now(timezone.utc), origin, ChangeSummary.of(ops))
        self._versions[vid] = info
        self._changes[vid] = list(ops)
        self._head = vid
        return info

    def set_head(self, version_id: int) -> None:
        if version_id != 0 and version_id not in self._versions:
            raise KeyError(f"unknown registry version {version_id}")
        self._head = version_id

    def versions(self) -> list[VersionInfo]:
        return list(self._versions.values())

    def changes_of(self, version_id: int) -> list[Op]:
        if version_id not in self._changes:
            raise KeyError(f"unknown registry version {version_id}")
        return list(self._changes[version_id])

    def close(self) -> None:
        pass


_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY,
    parent INTEGER NOT NULL,
    created_at REAL NOT NULL,
    origin TEXT NOT NULL,
    summary TEXT NOT NULL,
    changes TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS head (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 0),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO head (singleton, version) VALUES (0, 0);
"""


class SqliteHistory:
    """History in a SQLite file (WAL), surviving restarts; changesets are JSON."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()  # the connection is shared; sqlite3 objects are not thread-safe
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def head(self) -> int:
        with self._lock:
            return self._db.execute("SELECT version FROM head").fetchone()[0]

    def commit(self, parent: int, origin: str, ops: list[Op]) -> VersionInfo:
        summary = ChangeSummary.of(ops)
        created = time.time()
        # Encode first so an unserialisable value fails before anything is written.
        changes = json.dumps([_op_to_json(op) for op in ops], ensure_ascii=False)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                cur = self._db.execute(
                    "INSERT INTO versions (parent, created_at, origin, summary, changes) VALUES (?, ?, ?, ?, ?)",
                    (parent, created, origin, _summary_to_json(summary), changes),
                )
                vid = cur.lastrowid
                assert vid is not None   # set by the INSERT above
                self._db.execute("UPDATE head SET version = ?", (vid,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return VersionInfo(vid, parent, _utc(created), origin, summary)

    def set_head(self, version_id: int) -> None:
        with self._lock:
            if version_id != 0 and not self._db.execute(
                "SELECT 1 FROM versions WHERE id = ?", (version_id,)
            ).fetchone():
                raise KeyError(f"unknown registry version {version_id}")
            self._db.execute("UPDATE head SET version = ?", (version_id,))

    def versions(self) -> list[VersionInfo]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, parent, created_at, origin, summary FROM versions ORDER BY id"
            ).fetchall()
        return [VersionInfo(r[0], r[1], _utc(r[2]), r[3], _summary_from_json(r[4])) for r in rows]

    def changes_of(self, version_id: int) -> list[Op]:
        with self._lock:
            row = self._db.execute("SELECT changes FROM versions WHERE id = ?", (version_id,)).fetchone()
        if row is None:
            raise KeyError(f"unknown registry version {version_id}")
        return [_op_from_json(o) for o in json.loads(row[0])]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, timezone.utc)


def _summary_to_json(s: ChangeSummary) -> str:
    return json.dumps({"created": s.created, "updated": s.updated, "deleted": s.deleted, "entry_ids": s.entry_ids})


def _summary_from_json(text: str) -> ChangeSummary:
    d = json.loads(text)
    return ChangeSummary(d["created"], d["updated"], d["deleted"], tuple(d["entry_ids"]))


def _entry_to_json(entry: Entry | None) -> dict | None:
    if entry is None:
        return None
    d = entry.to_dict()
    if entry.source is not None:
        d["source"] = {"file": entry.source.file, "line": entry.source.line}
    return d


@overload
def _entry_from_json(d: dict) -> Entry: ...
@overload
def _entry_from_json(d: None) -> None: ...
def _entry_from_json(d: dict | None) -> Entry | None:
    if d is None:
        return None
    src = d.get("source")
    return Entry.from_dict(d, source=SourceLocation(src["file"], src["line"]) if src else None)


def _op_to_json(op: Op) -> dict:
    return {"action": op.action, "entry": _entry_to_json(op.entry), "previous": _entry_to_json(op.previous)}


def _op_from_json(d: dict) -> Op:
    return Op(d["action"], _entry_from_json(d["entry"]), _entry_from_json(d["previous"]))
