"""Key-value stores behind `store.*` entries: memory (max size, TTL, periodic cleanup),
SQL (a table on a db.sql.* entry) and Redis. Values are JSON-compatible data; TTLs are
seconds (0 or nil = never expires).

Every store reads entries with a version (an opaque string), lists keys in order with paging
and reports what it supports (`info`). Versions of the memory store count its writes; SQL and
Redis versions are digests of the stored value. Conditional writes (`only_if_absent`,
`if_version`) are the memory store's only: SQL and Redis refuse them (INVALID)."""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from ..engine.errors import WippyError, ALREADY_EXISTS, CONFLICT, INVALID, NOT_FOUND, UNAVAILABLE

log = logging.getLogger("wippy.store")


def _ttl(ttl: Any) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise WippyError(INVALID, "store: ttl must be a number of seconds")
    if ttl < 0:
        raise WippyError(INVALID, "store: ttl must not be negative")
    return float(ttl) if ttl > 0 else None


def _key(key: Any) -> str:
    if isinstance(key, bool) or not isinstance(key, (str, int, float)) or key == "":
        raise WippyError(INVALID, "store: key must be a non-empty string")
    return str(int(key)) if isinstance(key, float) and key.is_integer() else str(key)


DEFAULT_LIST_LIMIT = 100
MAX_LIST_LIMIT = 1000


def _digest(payload: str) -> str:
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _entry(key: str, value: Any, version: str) -> dict:
    return {"key": key, "value": value, "version": version}


def list_options(prefix: Any, after: Any, limit: Any) -> tuple[str, str | None, int]:
    if prefix is not None and not isinstance(prefix, str):
        raise WippyError(INVALID, "store: list prefix must be a string")
    if after is not None and not isinstance(after, str):
        raise WippyError(INVALID, "store: list cursor (after) must be a string")
    if limit is None:
        limit = DEFAULT_LIST_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise WippyError(INVALID, "store: list limit must be a positive integer")
    return prefix or "", after or None, min(limit, MAX_LIST_LIMIT)


def _page(items: list[dict], limit: int, after: str | None) -> dict:
    page = items[:limit]
    return {"items": page, "cursor": page[-1]["key"] if page else (after or ""), "has_more": len(items) > limit}


class Store:
    type = ""
    cleanup_interval = 0.0  # seconds between sweeps of expired keys; 0: the backend expires them itself
    # info(): which documented backend and consistency this is, and what it supports
    backend, consistency, durable, conditional_put = "unknown", "unknown", False, False

    def info(self) -> dict:
        self._check()
        return {"id": self.entry_id, "backend": self.backend, "consistency": self.consistency,
                "durable": self.durable, "list": True, "versioned": True,
                "conditional_put": self.conditional_put, "ttl": True}

    def _refuse_conditions(self, only_if_absent: bool, if_version: Any) -> None:
        if only_if_absent or if_version is not None:
            raise WippyError(INVALID, f"store {self.entry_id} ({self.type}) does not support conditional "
                                      "writes (only_if_absent, if_version): use a store.memory entry", False)

    def __init__(self, entry_id: str):
        self.entry_id = entry_id
        self.closed = False
        self._cleanup: asyncio.Task | None = None

    def start(self):
        if self._cleanup is None and self.cleanup_interval > 0:
            try:
                self._cleanup = asyncio.get_running_loop().create_task(self._sweeper())
            except RuntimeError:
                pass

    async def _sweeper(self):
        while not self.closed:
            await asyncio.sleep(self.cleanup_interval)
            await self._sweep_expired()

    async def _sweep_expired(self) -> None:
        raise NotImplementedError

    def _check(self):
        if self.closed:
            raise WippyError(UNAVAILABLE, f"store {self.entry_id} is closed")

    def close(self):
        self.closed = True
        if self._cleanup is not None:
            self._cleanup.cancel()
            self._cleanup = None

    retire = close


class MemoryStore(Store):
    type = "memory"
    backend, consistency, conditional_put = "memory", "local", True

    def __init__(self, entry_id: str, max_size: int = 10000, cleanup_interval: float = 300.0):
        super().__init__(entry_id)
        self.max_size = max_size
        self.cleanup_interval = cleanup_interval
        self.data: OrderedDict[str, tuple[Any, float | None, str]] = OrderedDict()
        self.evictions = 0
        self.writes = 0       # versions are write counts

    def adopt(self, old: Any) -> None:
        """A changed entry keeps the data (trimmed to the new max_size)."""
        if isinstance(old, MemoryStore):
            self.data = old.data
            self.writes = old.writes
            old.data = OrderedDict()
            while len(self.data) > self.max_size:
                self.data.popitem(last=False)

    async def _sweep_expired(self) -> None:
        self.sweep()

    def sweep(self) -> int:
        now = time.monotonic()
        dead = [k for k, (_, exp, _v) in self.data.items() if exp is not None and exp <= now]
        for k in dead:
            del self.data[k]
        return len(dead)

    def _live(self, key: str):
        item = self.data.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= time.monotonic():
            del self.data[key]
            return None
        return item

    async def get(self, key):
        self._check()
        item = self._live(_key(key))
        if item is None:
            raise WippyError(NOT_FOUND, f"key {key!r} not found")
        return item[0]

    async def set(self, key, value, ttl=None):
        self._write(_key(key), value, ttl)
        return True

    def _write(self, k: str, value: Any, ttl: Any) -> dict:
        self._check()
        t = _ttl(ttl)
        if value is None:
            raise WippyError(INVALID, "store: value must not be nil (use delete)")
        if k not in self.data and len(self.data) >= self.max_size:
            if not self.sweep():
                self.data.popitem(last=False)   # evict the least recently set key
                self.evictions += 1
        self.writes += 1
        version = str(self.writes)
        self.data[k] = (value, time.monotonic() + t if t else None, version)
        self.data.move_to_end(k)
        return _entry(k, value, version)

    async def entry(self, key):
        self._check()
        k = _key(key)
        item = self._live(k)
        if item is None:
            raise WippyError(NOT_FOUND, f"key {key!r} not found")
        return _entry(k, item[0], item[2])

    async def put(self, key, value, ttl=None, only_if_absent=False, if_version=None):
        self._check()
        k = _key(key)
        item = self._live(k)
        if only_if_absent and item is not None:
            raise WippyError(ALREADY_EXISTS, f"key {k!r} already exists", False)
        if if_version is not None and (item is None or item[2] != if_version):
            raise WippyError(CONFLICT, f"key {k!r} is not at version {if_version!r}", True)
        return self._write(k, value, ttl)

    async def list(self, prefix: str, after: str | None, limit: int) -> dict:
        self._check()
        keys = sorted(k for k in self.data if k.startswith(prefix) and (after is None or k > after))
        items = []
        for k in keys:
            item = self._live(k)
            if item is not None:
                items.append(_entry(k, item[0], item[2]))
                if len(items) > limit:
                    break
        return _page(items, limit, after)

    async def has(self, key):
        self._check()
        return self._live(_key(key)) is not None

    async def delete(self, key):
        self._check()
        return self.data.pop(_key(key), None) is not None

    async def keys(self):
        self._check()
        return [k for k in list(self.data) if self._live(k) is not None]


class SqlStore(Store):
    type = "sql"
    backend, consistency, durable = "sql", "linearizable", True
    needs_commit = False

    def __init__(self, res, entry_id: str, m):
        super().__init__(entry_id)
        from ..registry.entry import resolve_ref
        self.res = res
        self.db_id = resolve_ref(m.database, entry_id.split(":", 1)[0])
        self.names = (m.table_name, m.id_column_name, m.payload_column_name, m.expire_column_name)
        self.cleanup_interval = m.cleanup_interval
        self._ready: set[int] = set()

    async def _sweep_expired(self) -> None:
        try:
            db = await self._db()
            t, _, _, e = self._quoted(db)
            await db.execute(f"DELETE FROM {t} WHERE {e} IS NOT NULL AND {e} <= ?", [time.time()])
        except Exception as e:  # the database may be down; try again next time
            log.warning("store %s: cleanup failed: %s", self.entry_id, e)

    def _quoted(self, db) -> tuple[str, ...]:
        """Table and column names quoted for the database (the default key column, `key`, is a
        reserved word of MySQL)."""
        q = "`" if db.type == "mysql" else '"'
        return tuple(q + n + q for n in self.names)

    async def _db(self):
        self._check()
        db = self.res.database(self.db_id)
        if id(db) not in self._ready:
            t, k, v, e = self._quoted(db)
            key_type = "VARCHAR(255)" if db.type == "mysql" else "TEXT"
            real = "DOUBLE PRECISION" if db.type == "postgres" else "DOUBLE" if db.type == "mysql" else "REAL"
            await db.execute(f"CREATE TABLE IF NOT EXISTS {t} ({k} {key_type} PRIMARY KEY, "
                             f"{v} TEXT NOT NULL, {e} {real})", [])
            self._ready.add(id(db))
        return db

    async def get(self, key):
        return (await self.entry(key))["value"]

    async def entry(self, key):
        db = await self._db()
        t, k, v, e = self._quoted(db)
        rows = await db.query(f"SELECT {v} AS v, {e} AS e FROM {t} WHERE {k} = ?", [_key(key)])
        if not rows or (rows[0].get("e") is not None and rows[0]["e"] <= time.time()):
            raise WippyError(NOT_FOUND, f"key {key!r} not found")
        return _entry(_key(key), json.loads(rows[0]["v"]), _digest(rows[0]["v"]))

    async def put(self, key, value, ttl=None, only_if_absent=False, if_version=None):
        self._refuse_conditions(only_if_absent, if_version)
        payload = await self._set(key, value, ttl)
        return _entry(_key(key), value, _digest(payload))

    async def list(self, prefix: str, after: str | None, limit: int) -> dict:
        db = await self._db()
        t, k, v, e = self._quoted(db)
        like = prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"
        rows = await db.query(
            f"SELECT {k} AS k, {v} AS v FROM {t} WHERE {k} LIKE ? ESCAPE '!' "
            f"AND {k} > ? AND ({e} IS NULL OR {e} > ?) ORDER BY {k} LIMIT ?",
            [like, after or "", time.time(), limit + 1])
        return _page([_entry(r["k"], json.loads(r["v"]), _digest(r["v"])) for r in rows], limit, after)

    async def set(self, key, value, ttl=None):
        await self._set(key, value, ttl)
        return True

    async def _set(self, key, value, ttl) -> str:
        db = await self._db()
        t, k, v, e = self._quoted(db)
        name, ttl = _key(key), _ttl(ttl)
        if value is None:
            raise WippyError(INVALID, "store: value must not be nil (use delete)")
        exp = time.time() + ttl if ttl else None
        payload = _dump(value)
        if db.type == "mysql":
            q = (f"INSERT INTO {t} ({k}, {v}, {e}) VALUES (?, ?, ?) "
                 f"ON DUPLICATE KEY UPDATE {v} = VALUES({v}), {e} = VALUES({e})")
        else:
            q = (f"INSERT INTO {t} ({k}, {v}, {e}) VALUES (?, ?, ?) "
                 f"ON CONFLICT ({k}) DO UPDATE SET {v} = excluded.{v}, {e} = excluded.{e}")
        await db.execute(q, [name, payload, exp])
        return payload

    async def has(self, key):
        try:
            await self.get(key)
            return True
        except WippyError as e:
            if e.kind == NOT_FOUND:
                return False
            raise

    async def delete(self, key):
        db = await self._db()
        t, k, _, _ = self._quoted(db)
        r = await db.execute(f"DELETE FROM {t} WHERE {k} = ?", [_key(key)])
        return r["rows_affected"] > 0


class RedisStore(Store):
    type = "redis"
    durable = True

    def __init__(self, entry_id: str, m):
        super().__init__(entry_id)
        import redis.asyncio as aioredis
        if m.url:
            self.client = aioredis.from_url(m.url, socket_connect_timeout=5)
        else:
            self.client = aioredis.Redis(host=m.host, port=m.port, db=m.db, password=m.password or None,
                                         socket_connect_timeout=5)
        self.prefix = m.key_prefix or f"{entry_id}:"

    async def _run(self, coro):
        import redis
        self._check()
        try:
            return await coro
        except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
            raise WippyError(UNAVAILABLE, f"redis store {self.entry_id}: {e}") from None
        except redis.RedisError as e:
            raise WippyError(INVALID, f"redis store {self.entry_id}: {e}") from None

    async def open(self) -> None:
        """Connect now (lifecycle.auto_start) rather than on first use."""
        await self._run(self.client.ping())

    async def get(self, key):
        return (await self.entry(key))["value"]

    async def entry(self, key):
        self._check()
        raw = await self._run(self.client.get(self.prefix + _key(key)))
        if raw is None:
            raise WippyError(NOT_FOUND, f"key {key!r} not found")
        return _entry(_key(key), json.loads(raw), _digest(raw.decode() if isinstance(raw, bytes) else raw))

    async def set(self, key, value, ttl=None):
        await self._set(key, value, ttl)
        return True

    async def put(self, key, value, ttl=None, only_if_absent=False, if_version=None):
        self._refuse_conditions(only_if_absent, if_version)
        payload = await self._set(key, value, ttl)
        return _entry(_key(key), value, _digest(payload))

    async def _set(self, key, value, ttl) -> str:
        self._check()
        k, t = _key(key), _ttl(ttl)
        if value is None:
            raise WippyError(INVALID, "store: value must not be nil (use delete)")
        payload = _dump(value)
        await self._run(self.client.set(self.prefix + k, payload, px=int(t * 1000) if t else None))
        return payload

    async def list(self, prefix: str, after: str | None, limit: int) -> dict:
        """Keys come from SCAN (no order), sorted here: a listing reads every key of the prefix."""
        self._check()
        base = self.prefix + prefix
        pattern = "".join("\\" + c if c in "*?[]\\" else c for c in base) + "*"

        async def scan() -> list[str]:
            found = []
            async for raw in self.client.scan_iter(match=pattern, count=1000):
                k = (raw.decode() if isinstance(raw, bytes) else raw)[len(self.prefix):]
                if after is None or k > after:
                    found.append(k)
            return found
        names = sorted(await self._run(scan()))
        items: list[dict] = []
        for k in names:
            if len(items) > limit:
                break
            raw = await self._run(self.client.get(self.prefix + k))
            if raw is not None:     # expired or deleted meanwhile
                text = raw.decode() if isinstance(raw, bytes) else raw
                items.append(_entry(k, json.loads(text), _digest(text)))
        return _page(items, limit, after)

    async def has(self, key):
        self._check()
        return bool(await self._run(self.client.exists(self.prefix + _key(key))))

    async def delete(self, key):
        self._check()
        return bool(await self._run(self.client.delete(self.prefix + _key(key))))

    def close(self):
        super().close()
        try:
            asyncio.get_running_loop().create_task(self.client.aclose())
        except RuntimeError:
            pass

    retire = close


def build(res, entry, m):
    if entry.kind == "store.memory":
        return MemoryStore(entry.id, m.max_size, m.cleanup_interval)
    if entry.kind == "store.sql":
        return SqlStore(res, entry.id, m)
    if entry.kind == "store.redis":
        return RedisStore(entry.id, m)
    raise WippyError(INVALID, f"unknown store kind {entry.kind}")
