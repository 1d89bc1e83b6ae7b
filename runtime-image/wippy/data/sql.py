"""SQL databases behind `db.sql.*` entries: SQLite (stdlib sqlite3 on worker threads),
PostgreSQL (asyncpg) and MySQL/MariaDB (aiomysql).

Every driver offers the same small surface: `query` (rows as dicts), `execute`
(`{last_insert_id, rows_affected}`), `begin` (a Tx pinning one connection, with
savepoints), `stats` and `close`. Placeholders are written `?` (positional); drivers that
use another style get them rewritten outside string literals.

A database being replaced (its entry changed) or removed *retires*: new work goes to the
new pool, work in flight (queries, open transactions) finishes on the old one, which
closes when the last of it returns.
"""
from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import threading
from pathlib import Path
from collections.abc import Coroutine
from typing import Any

from ..engine.errors import WippyError, INVALID, UNAVAILABLE

log = logging.getLogger("wippy.sql")

SQLITE, POSTGRES, MYSQL = "sqlite", "postgres", "mysql"


class Typed:
    """A parameter with an explicit SQL type (`sql.as.*`)."""
    __slots__ = ("type", "value")

    def __init__(self, type_: str, value: Any):
        self.type, self.value = type_, value


def coerce_param(p: Any) -> Any:
    if isinstance(p, Typed):
        v = p.value
        try:
            if p.type == "null":
                return None
            if p.type == "int":
                return None if v is None else int(float(v)) if isinstance(v, str) else int(v)
            if p.type == "float":
                return None if v is None else float(v)
            if p.type == "text":
                return None if v is None else (v if isinstance(v, str) else _text(v))
            if p.type == "binary":
                if v is None:
                    return None
                return v if isinstance(v, bytes) else _bin(v)
            if p.type == "bool":
                return None if v is None else bool(v)
        except (TypeError, ValueError) as e:
            raise WippyError(INVALID, f"sql: cannot convert {v!r} to {p.type}: {e}") from None
        raise WippyError(INVALID, f"sql: unknown parameter type {p.type}")
    if isinstance(p, (dict, list)):
        raise WippyError(INVALID, "sql: a parameter must be a scalar (use sql.as.* or json.encode for tables)")
    return p


def _text(v: Any) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _bin(v: Any) -> bytes:
    s = str(v)
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        return s.encode("latin-1")


def params_list(params: Any) -> list:
    if params is None:
        return []
    if isinstance(params, dict):   # a Lua array with nil holes: {1, nil, 3}
        if not params:
            return []
        if not all(isinstance(k, int) and k >= 1 for k in params):
            raise WippyError(INVALID, "sql: params must be an array table of values (use ? placeholders)")
        return [coerce_param(params.get(i)) for i in range(1, max(params) + 1)]
    if isinstance(params, (list, tuple)):
        return [coerce_param(p) for p in params]
    return [coerce_param(params)]


_LITERAL = re.compile(r"('(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/)", re.S)


def rewrite_placeholders(sql: str, style: str) -> str:
    """`?` -> `$n` (postgres) or `%s` (pyformat, with `%` escaped), outside literals."""
    out, n = [], 0
    for i, part in enumerate(_LITERAL.split(sql)):
        if i % 2 == 1:      # a literal or comment: untouched (but % must still be escaped)
            out.append(part.replace("%", "%%") if style == "format" else part)
            continue
        if style == "numeric":
            def num(_m):
                nonlocal n
                n += 1
                return f"${n}"
            out.append(re.sub(r"\?", num, part))
        else:
            out.append(part.replace("%", "%%").replace("?", "%s"))
    return "".join(out)


def _sql_error(db_type: str, e: Exception) -> WippyError:
    msg = str(e).strip() or type(e).__name__
    return WippyError(INVALID, f"{db_type}: {msg}")


# --------------------------------------------------------------------------- base
class Database:
    type = ""

    def __init__(self, entry_id: str, max_open: int):
        self.entry_id = entry_id
        self.max_open = max(1, max_open)
        self.busy = 0              # queries and transactions in flight
        self.retired = False
        self.closed = False
        self._slots = asyncio.Semaphore(self.max_open)
        self.opened = 0
        self.queries = 0

    # lifecycle ---------------------------------------------------------------
    stop_timeout: float | None = None   # lifecycle.stop_timeout: most time work in flight gets on retire

    async def open(self) -> None:
        """Connect now (lifecycle.auto_start) rather than on first use."""
        await self._on_connection("query", "SELECT 1", [])

    def retire(self) -> None:
        """New work no longer comes here; close once what is in flight returns (or stop_timeout passed)."""
        self.retired = True
        if self.busy == 0:
            self._close_soon()
        elif self.stop_timeout is not None:
            asyncio.get_running_loop().call_later(self.stop_timeout, self._close_soon)

    def _close_soon(self) -> None:
        if not self.closed:
            self.closed = True
            asyncio.get_running_loop().create_task(self._safe_close())

    async def _safe_close(self) -> None:
        try:
            await self.close_connections()
        except Exception:  # pragma: no cover - best effort
            log.exception("sql %s: close failed", self.entry_id)

    def _enter(self) -> None:
        if self.closed:
            raise WippyError(UNAVAILABLE, f"database {self.entry_id} is closed")
        self.busy += 1

    def _leave(self) -> None:
        self.busy -= 1
        if self.retired and self.busy == 0:
            self._close_soon()

    # operations ---------------------------------------------------------------
    async def query(self, sql: str, params: list) -> list[dict]:
        return await self._on_connection("query", sql, params)

    async def execute(self, sql: str, params: list) -> dict:
        return await self._on_connection("execute", sql, params)

    async def _on_connection(self, op: str, sql: str, params: list):
        """Run one statement on a borrowed connection (the pool stays alive while it runs)."""
        self._enter()
        try:
            async with self._slots:
                conn = await self._acquire()
                try:
                    self.queries += 1
                    return await getattr(conn, op)(sql, params)
                finally:
                    await self._release(conn)
        finally:
            self._leave()

    async def begin(self, isolation: str = "default", read_only: bool = False) -> "Tx":
        self._enter()
        try:
            await self._slots.acquire()
            try:
                conn = await self._acquire()
                try:
                    await conn.begin(isolation, read_only)
                except BaseException:
                    await self._release(conn)
                    raise
            except BaseException:
                self._slots.release()
                raise
        except BaseException:
            self._leave()
            raise
        return Tx(self, conn)

    def _end_tx(self, conn) -> Coroutine[Any, Any, None]:
        async def done():
            try:
                await self._release(conn)
            finally:
                self._slots.release()
                self._leave()
        return done()

    def stats(self) -> dict:
        return {"type": self.type, "max_open": self.max_open, "open_connections": self.opened,
                "in_use": self.busy, "queries": self.queries, "retired": self.retired}

    # driver parts
    async def _acquire(self): raise NotImplementedError
    async def _release(self, conn): raise NotImplementedError
    async def close_connections(self): raise NotImplementedError


class Tx:
    """A transaction pinning one connection until commit or rollback."""

    def __init__(self, db: Database, conn):
        self.db, self.conn, self.done = db, conn, False

    def _check(self):
        if self.done:
            raise WippyError(INVALID, "transaction already finished")

    async def query(self, sql, params):
        self._check()
        return await self.conn.query(sql, params)

    async def execute(self, sql, params):
        self._check()
        return await self.conn.execute(sql, params)

    async def savepoint(self, name: str):
        self._check()
        await self.conn.execute(f"SAVEPOINT {_ident(name)}", [])

    async def rollback_to(self, name: str):
        self._check()
        await self.conn.execute(f"ROLLBACK TO SAVEPOINT {_ident(name)}", [])

    async def release(self, name: str):
        self._check()
        await self.conn.execute(f"RELEASE SAVEPOINT {_ident(name)}", [])

    async def commit(self):
        self._check()
        self.done = True
        try:
            await self.conn.commit()
        finally:
            await self.db._end_tx(self.conn)

    async def rollback(self):
        if self.done:
            return
        self.done = True
        try:
            await self.conn.rollback()
        finally:
            await self.db._end_tx(self.conn)


def _ident(name: Any) -> str:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise WippyError(INVALID, f"invalid savepoint name {name!r}")
    return name


# --------------------------------------------------------------------------- SQLite
class _SqliteConn:
    def __init__(self, path: str, uri: bool, busy_timeout: float):
        self.raw = sqlite3.connect(path, uri=uri, check_same_thread=False, isolation_level=None,
                                   timeout=busy_timeout)
        self.raw.execute("PRAGMA foreign_keys=ON")
        self.lock = threading.Lock()

    async def _run(self, fn):
        def work():
            with self.lock:
                return fn()
        try:
            return await asyncio.to_thread(work)
        except sqlite3.Error as e:
            raise _sql_error(SQLITE, e) from None

    async def query(self, sql, params):
        def q():
            cur = self.raw.execute(sql, params)
            try:
                if cur.description is None:
                    return []
                cols = [d[0] for d in cur.description]
                return [{c: v for c, v in zip(cols, row) if v is not None} for row in cur.fetchall()]
            finally:
                cur.close()
        return await self._run(q)

    async def execute(self, sql, params):
        def x():
            cur = self.raw.execute(sql, params)
            try:
                cur.fetchall()
                return {"last_insert_id": cur.lastrowid or 0, "rows_affected": max(cur.rowcount, 0)}
            finally:
                cur.close()
        return await self._run(x)

    async def begin(self, isolation: str = "default", read_only: bool = False):
        if isolation not in ("default", "serializable"):
            raise WippyError(INVALID, f"sqlite: transactions are serializable; isolation {isolation!r} is not available")

        def b():
            self.raw.execute("BEGIN")
            if read_only:
                self.raw.execute("PRAGMA query_only = ON")
        await self._run(b)

    async def commit(self):
        def c():
            self.raw.execute("COMMIT")
            self.raw.execute("PRAGMA query_only = OFF")
        await self._run(c)

    async def rollback(self):
        def rb():
            if self.raw.in_transaction:
                self.raw.execute("ROLLBACK")
            self.raw.execute("PRAGMA query_only = OFF")
        await self._run(rb)

    def close(self):
        with self.lock:
            self.raw.close()


class SqliteDatabase(Database):
    type = SQLITE

    def __init__(self, entry_id: str, file: str, *, base_dir: Path | None = None, max_open: int = 4,
                 busy_timeout: float = 5.0, pragmas: dict | None = None):
        memory = file in ("", ":memory:")
        # an in-memory database lives in its one connection
        super().__init__(entry_id, 1 if memory else max_open)
        if memory:
            self.path, self.uri = ":memory:", False
        elif file.startswith("file:"):
            self.path, self.uri = file, True
        else:
            p = Path(file).expanduser()
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            if not p.parent.is_dir():
                raise WippyError(INVALID, f"sqlite: directory {p.parent} does not exist")
            self.path, self.uri = str(p), False
        self.busy_timeout = busy_timeout
        self.pragmas = dict(pragmas or {})   # checked by the kind model: known names, plain values
        self._idle: list[_SqliteConn] = []
        self._all: list[_SqliteConn] = []
        # open one connection now: a bad path is refused when the entry is applied
        try:
            conn = self._open()
        except sqlite3.Error as e:
            raise WippyError(INVALID, f"sqlite: cannot open {self.path}: {e}") from None
        self._idle.append(conn)

    def _open(self) -> _SqliteConn:
        conn = _SqliteConn(self.path, self.uri, self.busy_timeout)
        if self.path != ":memory:":
            conn.raw.execute("PRAGMA journal_mode=WAL")
        for name, value in self.pragmas.items():
            conn.raw.execute(f"PRAGMA {name}={value}")
        self._all.append(conn)
        self.opened = len(self._all)
        return conn

    async def _acquire(self):
        if self._idle:
            return self._idle.pop()
        return self._open()

    async def _release(self, conn):
        if self.closed:
            conn.close()
        else:
            self._idle.append(conn)

    async def close_connections(self):
        self.closed = True
        for c in self._all:
            try:
                c.close()
            except Exception:
                pass
        self._all.clear()
        self._idle.clear()


# --------------------------------------------------------------------------- PostgreSQL
class _PgConn:
    def __init__(self, raw):
        self.raw = raw
        self.tx: Any = None   # an asyncpg transaction (an untyped library)

    async def _run(self, coro_fn):
        import asyncpg
        try:
            return await coro_fn()
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise _sql_error(POSTGRES, e) from None
        except (OSError, asyncio.TimeoutError) as e:
            raise WippyError(UNAVAILABLE, f"postgres: {e}") from None

    async def query(self, sql, params):
        sql = rewrite_placeholders(sql, "numeric") if "?" in sql else sql
        rows = await self._run(lambda: self.raw.fetch(sql, *params))
        return [{k: _pg_value(v) for k, v in r.items() if v is not None} for r in rows]

    async def execute(self, sql, params):
        sql = rewrite_placeholders(sql, "numeric") if "?" in sql else sql
        if params:
            status = await self._run(lambda: self.raw.execute(sql, *params))
        else:
            status = await self._run(lambda: self.raw.execute(sql))
        parts = (status or "").split()
        n = int(parts[-1]) if parts and parts[-1].isdigit() else 0
        return {"last_insert_id": 0, "rows_affected": n}

    async def begin(self, isolation: str = "default", read_only: bool = False):
        if isolation == "write_committed":
            raise WippyError(INVALID, "postgres: isolation 'write_committed' is not available")
        self.tx = self.raw.transaction(isolation=None if isolation == "default" else isolation, readonly=read_only)
        await self._run(self.tx.start)

    async def commit(self):
        tx, self.tx = self.tx, None
        await self._run(tx.commit)

    async def rollback(self):
        tx, self.tx = self.tx, None
        if tx is not None:
            await self._run(tx.rollback)


def _pg_value(v):
    import datetime
    import decimal
    import uuid
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime, datetime.time)):
        return v.isoformat()
    if isinstance(v, uuid.UUID):
        return str(v)
    if isinstance(v, (list, tuple)):
        return [_pg_value(x) for x in v]
    if isinstance(v, memoryview):
        return bytes(v)
    return v


class PostgresDatabase(Database):
    type = POSTGRES

    def __init__(self, entry_id: str, *, host: str, port: int, database: str, username: str, password: str,
                 options: dict, max_open: int = 10, max_idle: int = 2, max_lifetime: float = 3600.0,
                 connect_timeout: float = 10.0):
        super().__init__(entry_id, max_open)
        self.conn_args = dict(host=host, port=port, database=database, user=username, password=password or None,
                              timeout=connect_timeout)
        settings = {k: str(v) for k, v in (options or {}).items() if k not in ("sslmode",)}
        if settings:
            self.conn_args["server_settings"] = settings
        if (options or {}).get("sslmode") in ("disable", None):
            self.conn_args["ssl"] = False
        self.min_size = min(max_idle, self.max_open)
        self.max_lifetime = max_lifetime
        self.pool: Any = None   # made on first use (an untyped library)
        self._pool_lock = asyncio.Lock()

    async def _get_pool(self):
        import asyncpg
        if self.pool is None:
            async with self._pool_lock:
                if self.pool is None:
                    try:
                        self.pool = await asyncpg.create_pool(
                            min_size=0, max_size=self.max_open,
                            max_inactive_connection_lifetime=self.max_lifetime or 300.0,
                            **self.conn_args)
                    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError) as e:
                        raise WippyError(UNAVAILABLE, f"postgres {self.entry_id}: cannot connect: {e}") from None
        return self.pool

    async def _acquire(self):
        pool = await self._get_pool()
        try:
            raw = await pool.acquire()
        except (OSError, asyncio.TimeoutError) as e:
            raise WippyError(UNAVAILABLE, f"postgres {self.entry_id}: cannot connect: {e}") from None
        self.opened = pool.get_size()
        return _PgConn(raw)

    async def _release(self, conn):
        await self.pool.release(conn.raw)

    async def close_connections(self):
        self.closed = True
        if self.pool is not None:
            await self.pool.close()


# --------------------------------------------------------------------------- MySQL / MariaDB
class _MyConn:
    def __init__(self, raw):
        self.raw = raw

    async def _run(self, fn):
        import pymysql
        try:
            return await fn()
        except pymysql.err.OperationalError as e:
            code = e.args[0] if e.args else 0
            if code in (2003, 2006, 2013):
                raise WippyError(UNAVAILABLE, f"mysql: {e.args[-1]}") from None
            raise WippyError(INVALID, f"mysql: {e.args[-1] if e.args else e}") from None
        except pymysql.err.MySQLError as e:
            raise WippyError(INVALID, f"mysql: {e.args[-1] if e.args else e}") from None

    async def query(self, sql, params):
        async def q():
            async with self.raw.cursor() as cur:
                await cur.execute(rewrite_placeholders(sql, "format") if params else sql, params or None)
                if cur.description is None:
                    return []
                cols = [d[0] for d in cur.description]
                rows = await cur.fetchall()
                return [{c: _my_value(v) for c, v in zip(cols, r) if v is not None} for r in rows]
        return await self._run(q)

    async def execute(self, sql, params):
        async def x():
            async with self.raw.cursor() as cur:
                n = await cur.execute(rewrite_placeholders(sql, "format") if params else sql, params or None)
                return {"last_insert_id": cur.lastrowid or 0, "rows_affected": n or 0}
        return await self._run(x)

    async def begin(self, isolation: str = "default", read_only: bool = False):
        if isolation == "write_committed":
            raise WippyError(INVALID, "mysql: isolation 'write_committed' is not available")
        if isolation != "default":      # applies to the next transaction of this connection
            await self.execute("SET TRANSACTION ISOLATION LEVEL " + isolation.replace("_", " ").upper(), [])
        if read_only:
            await self.execute("START TRANSACTION READ ONLY", [])
        else:
            await self._run(self.raw.begin)

    async def commit(self):
        await self._run(self.raw.commit)

    async def rollback(self):
        await self._run(self.raw.rollback)


def _my_value(v):
    import datetime
    import decimal
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, (datetime.date, datetime.datetime, datetime.time, datetime.timedelta)):
        return v.isoformat() if hasattr(v, "isoformat") else str(v)
    return v


class MysqlDatabase(Database):
    type = MYSQL

    def __init__(self, entry_id: str, *, host: str, port: int, database: str, username: str, password: str,
                 options: dict, max_open: int = 10, max_idle: int = 2, max_lifetime: float = 3600.0,
                 connect_timeout: float = 10.0):
        super().__init__(entry_id, max_open)
        self.conn_args = dict(host=host, port=port, db=database, user=username, password=password or "",
                              autocommit=True, connect_timeout=connect_timeout, charset="utf8mb4")
        self.max_lifetime = max_lifetime
        self.pool: Any = None   # made on first use (an untyped library)
        self._pool_lock = asyncio.Lock()

    async def _acquire(self):
        try:
            import aiomysql
        except ImportError:
            raise WippyError(UNAVAILABLE, "mysql: the aiomysql package is not installed") from None
        if self.pool is None:
            async with self._pool_lock:
                if self.pool is None:
                    try:
                        self.pool = await aiomysql.create_pool(minsize=0, maxsize=self.max_open,
                                                               pool_recycle=int(self.max_lifetime or -1),
                                                               **self.conn_args)
                    except Exception as e:
                        raise WippyError(UNAVAILABLE, f"mysql {self.entry_id}: cannot connect: {e}") from None
        try:
            raw = await self.pool.acquire()
        except Exception as e:
            raise WippyError(UNAVAILABLE, f"mysql {self.entry_id}: cannot connect: {e}") from None
        self.opened = self.pool.size
        return _MyConn(raw)

    async def _release(self, conn):
        self.pool.release(conn.raw)

    async def close_connections(self):
        self.closed = True
        if self.pool is not None:
            self.pool.close()
            await self.pool.wait_closed()
