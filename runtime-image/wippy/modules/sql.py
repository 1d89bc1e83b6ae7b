"""Python side of the `sql` module: queries, statements and transactions on the node's
databases (wippy.data.sql). Transactions are handles owned by this engine."""
from __future__ import annotations

import asyncio
import itertools

from ..data import Resources
from ..data.sql import Tx, Typed, params_list
from ..engine.errors import WippyError, INVALID


def _params(engine, raw):
    value = engine.py(raw) if raw is not None else None

    def typed(v):
        if isinstance(v, dict) and "__sql_type" in v:
            return Typed(v["__sql_type"], v.get("value"))
        return v
    if isinstance(value, list):
        value = [typed(v) for v in value]
    elif isinstance(value, dict) and "__sql_type" not in value:
        value = {k: typed(v) for k, v in value.items()}
    elif value is not None:
        value = [typed(value)]
    return params_list(value)


def _sql(s):
    if not isinstance(s, str) or not s.strip():
        raise WippyError(INVALID, "sql: query must be a non-empty string")
    return s


def install(engine):
    res = lambda: Resources.of(engine.node)  # noqa: E731
    txs: dict[int, Tx] = {}
    seq = itertools.count(1)
    abandoned: set[asyncio.Task] = set()     # rollbacks of abandoned transactions, until done

    def get(entry_id):
        return res().database(str(entry_id)).type

    async def query(entry_id, sql, params):
        db = res().database(entry_id)
        return engine.to_lua(await db.query(_sql(sql), _params(engine, params)))

    async def execute(entry_id, sql, params):
        db = res().database(entry_id)
        return engine.to_lua(await db.execute(_sql(sql), _params(engine, params)))

    async def begin(entry_id, isolation, read_only):
        tx = await res().database(entry_id).begin(isolation or "default", bool(read_only))
        h = next(seq)
        txs[h] = tx
        return h

    def tx(h):
        t = txs.get(h)
        if t is None:
            raise WippyError(INVALID, "transaction already finished")
        return t

    async def tx_query(h, sql, params):
        return engine.to_lua(await tx(h).query(_sql(sql), _params(engine, params)))

    async def tx_execute(h, sql, params):
        return engine.to_lua(await tx(h).execute(_sql(sql), _params(engine, params)))

    async def tx_commit(h):
        t = txs.pop(h, None)
        if t is None:
            raise WippyError(INVALID, "transaction already finished")
        await t.commit()
        return True

    async def tx_rollback(h):
        t = txs.pop(h, None)
        if t is None:
            raise WippyError(INVALID, "transaction already finished")
        await t.rollback()
        return True

    def tx_abandon(h):
        """The Lua process that began the transaction ended without finishing it: roll it back
        (in the background) so that its connection returns to the pool."""
        t = txs.pop(h, None)
        if t is not None and not t.done:
            task = asyncio.get_running_loop().create_task(t.rollback())
            abandoned.add(task)
            task.add_done_callback(abandoned.discard)
        return True

    async def tx_savepoint(h, name):
        await tx(h).savepoint(name)
        return True

    async def tx_rollback_to(h, name):
        await tx(h).rollback_to(name)
        return True

    async def tx_release(h, name):
        await tx(h).release(name)
        return True

    def stats(entry_id):
        return engine.to_lua(res().database(entry_id).stats())

    return {"get": get, "query": query, "execute": execute, "begin": begin, "tx_query": tx_query,
            "tx_execute": tx_execute, "tx_commit": tx_commit, "tx_rollback": tx_rollback,
            "tx_abandon": tx_abandon, "tx_savepoint": tx_savepoint, "tx_rollback_to": tx_rollback_to, "tx_release": tx_release,
            "stats": stats}
