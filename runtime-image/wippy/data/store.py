"""Key-value stores behind `store.*` entries: memory (max size, TTL, periodic cleanup),
SQL (a table on a db.sql.* entry) and Redis. Values are JSON-compatible data; TTLs are
seconds (0 or nil = never expires)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict
from typing import Any

from ..engine.errors import WippyError, INVALID, NOT_FOUND, UNAVAILABLE

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


class Store:
    type = ""
    cleanup_interval = 0.0  # seconds between sweeps of expired keys; 0: the backend expires them itself

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

    def __init__(self, entry_id: str, max_size: int = 10000, cleanup_interval: float = 300.0):
        super().__init__(entry_id)
        self.max_size = max_size
        self.cleanup_interval = cleanup_interval
        self.data: OrderedDict[str, tuple[Any, float | None]] = OrderedDict()
        self.evictions = 0

    def adopt(self, old: Any) -> None:
        """A changed entry keeps the data (trimmed to the new max_size)."""
        if isinstance(old, MemoryStore):
            self.data = old.data
            old.data = OrderedDict()
            while len(self.data) > self.max_size:
                self.data.popitem(last=False)

    async def _sweep_expired(self) -> None:
        self.sweep()

    def sweep(self) -> int:
        now = time.monotonic()
        dead = [k for k, (_, exp) in self.data.items() if exp is not None and exp <= now]
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
        self._check()
        k, t = _key(key), _ttl(ttl)
        if value is None:
            raise WippyError(INVALID, "store: value must not be nil (use delete)")
        if k not in self.data and len(self.data) >= self.max_size:
            if not self.sweep():
                self.data.popitem(last=False)   # evict the least recently set key
                self.evictions += 1
        self.data[k] = (value, time.monotonic() + t if t else None)
        self.data.move_to_end(k)
        return True

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
    needs_commit = False

    def __init__(self, res, entry_id: str, m):
        super().__init__(entry_id)
        from ..registry.entry import resolve_ref
        self.res = res
        self.db_id = resolve_ref(m.database, entry_id.split(":", 1)[0])
        self.table, self.kc, self.vc, self.ec = m.table_name, m.id_column_name, m.payload_column_name, m.expire_column_name
        self.cleanup_interval = m.cleanup_interval
        self._ready: set[int] = set()

    async def _sweep_expired(self) -> None:
        try:
            db = await self._db()
            await db.execute(f"DELETE FROM {self.table} WHERE {self.ec} IS NOT NULL AND {self.ec} <= ?", [time.time()])
        except Exception as e:  # the database may be down; try again next time
            log.warning("store %s: cleanup failed: %s", self.entry_id, e)

    async def _db(self):
        self._check()
        db = self.res.database(self.db_id)
        if id(db) not in self._ready:
            key_type = "VARCHAR(255)" if db.type == "mysql" else "TEXT"
            real = "DOUBLE PRECISION" if db.type == "postgres" else "DOUBLE" if db.type == "mysql" else "REAL"
            await db.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({self.kc} {key_type} PRIMARY KEY, "
                             f"{self.vc} TEXT NOT NULL, {self.ec} {real})", [])
            self._ready.add(id(db))
        return db

    async def get(self, key):
        db = await self._db()
        rows = await db.query(f"SELECT {self.vc} AS v, {self.ec} AS e FROM {self.table} WHERE {self.kc} = ?", [_key(key)])
        if not rows or (rows[0].get("e") is not None and rows[0]["e"] <= time.time()):
            raise WippyError(NOT_FOUND, f"key {key!r} not found")
        return json.loads(rows[0]["v"])

    async def set(self, key, value, ttl=None):
        db = await self._db()
        k, t = _key(key), _ttl(ttl)
        if value is None:
            raise WippyError(INVALID, "store: value must not be nil (use delete)")
        exp = time.time() + t if t else None
        payload = json.dumps(value, separators=(",", ":"), sort_keys=True)
        if db.type == "mysql":
            q = (f"INSERT INTO {self.table} ({self.kc}, {self.vc}, {self.ec}) VALUES (?, ?, ?) "
                 f"ON DUPLICATE KEY UPDATE {self.vc} = VALUES({self.vc}), {self.ec} = VALUES({self.ec})")
        else:
            q = (f"INSERT INTO {self.table} ({self.kc}, {self.vc}, {self.ec}) VALUES (?, ?, ?) "
                 f"ON CONFLICT ({self.kc}) DO UPDATE SET {self.vc} = excluded.{self.vc}, {self.ec} = excluded.{self.ec}")
        await db.execute(q, [k, payload, exp])
        return True

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
        r = await db.execute(f"DELETE FROM {self.table} WHERE {self.kc} = ?", [_key(key)])
        return r["rows_affected"] > 0


class RedisStore(Store):
    type = "redis"

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
        self._check()
        raw = await self._run(self.client.get(self.prefix + _key(key)))
        if raw is None:
            raise WippyError(NOT_FOUND, f"key {key!r} not found")
        return json.loads(raw)

    async def set(self, key, value, ttl=None):
        self._check()
        k, t = _key(key), _ttl(ttl)
        if value is None:
            raise WippyError(INVALID, "store: value must not be nil (use delete)")
        payload = json.dumps(value, separators=(",", ":"), sort_keys=True)
        await self._run(self.client.set(self.prefix + k, payload, px=int(t * 1000) if t else None))
        return True

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
