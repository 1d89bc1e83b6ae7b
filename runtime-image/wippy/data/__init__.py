"""Data resources of a node: SQL pools, stores, queues, filesystems, env storages, and
the node-wide event bus.

Kind handlers build a resource when its entry is created and swap it when the entry
changes (the old one *retires*: work in flight finishes on it). Modules look resources up
by entry id; a resource whose entry exists but was never built (engine tests, boot races)
is built on first use from the entry.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ..engine.errors import WippyError, NOT_FOUND, INVALID

log = logging.getLogger("wippy.data")


def _model(entry):
    from ..kinds.models.catalog import MODELS
    model = MODELS.get(entry.kind)
    if model is None:
        raise WippyError(INVALID, f"unknown kind {entry.kind}")
    try:
        return model.from_data(entry.data)
    except ValueError as e:
        raise WippyError(INVALID, f"entry {entry.id} ({entry.kind}): {e}") from None


def _build(res: "Resources", entry, m=None) -> Any:
    kind = entry.kind
    m = m if m is not None else _model(entry)
    if kind.startswith("db.sql."):
        from . import sql
        if kind == "db.sql.sqlite":
            return sql.SqliteDatabase(entry.id, m.file, base_dir=res.base_dir, max_open=m.pool.max_open,
                                      busy_timeout=m.busy_timeout, pragmas=m.options)
        cls = sql.PostgresDatabase if kind == "db.sql.postgres" else sql.MysqlDatabase
        port = m.port or (5432 if kind == "db.sql.postgres" else 3306)
        return cls(entry.id, host=m.host, port=port, database=m.database, username=m.username,
                   password=m.password, options=m.options, max_open=m.pool.max_open, max_idle=m.pool.max_idle,
                   max_lifetime=m.pool.max_lifetime, connect_timeout=m.connect_timeout)
    if kind.startswith("store."):
        from . import store
        return store.build(res, entry, m)
    if kind.startswith("queue."):
        from . import queue
        return queue.build(res, entry, m)
    if kind == "fs.directory":
        from .fs import DirectoryFS
        return DirectoryFS(entry.id, m, res.base_dir)
    if kind == "fs.embed":
        from .fs import EmbeddedFS
        return EmbeddedFS(entry.id, m)
    if kind.startswith("env."):
        from .env import build
        return build(res, entry, m)
    raise WippyError(INVALID, f"{entry.id}: kind {kind} is not a data resource")


class Resources:
    """All data resources of one node (one per runtime)."""

    def __init__(self, node):
        self.node = node
        self.base_dir: Path | None = None
        self.objects: dict[str, Any] = {}
        self.kinds: dict[str, str] = {}
        from .events import EventBus
        self.bus = EventBus(node)
        self.runtime = None
        self.registry_events = False   # registry changes published on the bus (by the kind handler)

    @classmethod
    def of(cls, node) -> "Resources":
        r = getattr(node, "wippy_data", None)
        if r is None:
            r = cls(node)
            node.wippy_data = r
        return r

    # ---------------------------------------------------------------- lookup
    def get(self, entry_id: str, prefix: str, what: str) -> Any:
        obj = self.objects.get(entry_id)
        if obj is not None:
            kind = self.kinds.get(entry_id, "")
            if not kind.startswith(prefix):
                raise WippyError(INVALID, f"entry {entry_id} is a {kind}, not a {what}")
            return obj
        entry = self.node.get_entry(entry_id)
        if entry is None:
            raise WippyError(NOT_FOUND, f"{what} {entry_id} not found")
        if not entry.kind.startswith(prefix):
            raise WippyError(INVALID, f"entry {entry_id} is a {entry.kind}, not a {what}")
        obj = _build(self, entry)
        self.objects[entry_id] = obj
        self.kinds[entry_id] = entry.kind
        start = getattr(obj, "start", None)
        if start is not None and not getattr(obj, "needs_commit", False):
            start()
        return obj

    def database(self, entry_id: str):
        return self.get(entry_id, "db.sql.", "database")

    def store(self, entry_id: str):
        return self.get(entry_id, "store.", "store")

    def queue(self, entry_id: str):
        return self.get(entry_id, "queue.queue", "queue")

    def driver(self, entry_id: str):
        return self.get(entry_id, "queue.driver.", "queue driver")

    def fs(self, entry_id: str):
        return self.get(entry_id, "fs.", "filesystem")

    def env_storage(self, entry_id: str):
        return self.get(entry_id, "env.storage.", "env storage")

    # ---------------------------------------------------------------- changes (from handlers)
    def build(self, entry, model=None) -> Any:
        """The resource of `entry`, from its typed `model` (placeholders resolved) when given."""
        obj = _build(self, entry, model)
        self.kinds[entry.id] = entry.kind
        return obj

    def put(self, entry_id: str, obj: Any) -> None:
        old = self.objects.get(entry_id)
        adopt = getattr(obj, "adopt", None)
        if old is not None and adopt is not None:
            adopt(old)
        self.objects[entry_id] = obj
        if old is not None and old is not obj:
            _retire(old)

    def remove(self, entry_id: str) -> None:
        old = self.objects.pop(entry_id, None)
        self.kinds.pop(entry_id, None)
        if old is not None:
            _retire(old)

    def close_all(self) -> None:
        for eid in list(self.objects):
            self.remove(eid)


def _retire(obj: Any) -> None:
    retire = getattr(obj, "retire", None) or getattr(obj, "close", None)
    if retire is None:
        return
    try:
        r = retire()
        if asyncio.iscoroutine(r):
            asyncio.get_running_loop().create_task(r)
    except Exception:
        log.exception("retiring %r failed", obj)
