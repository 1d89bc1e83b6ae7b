"""db.sql.* entries in a running Runtime: live pool swap (in-flight work finishes on the
old pool), rejected entries, and delete."""
from __future__ import annotations

import asyncio
import sqlite3

import pytest

from wippy.engine.errors import WippyError
from wippy.registry import ApplyError

SLOW_TX = """
local sql = require("sql")
local time = require("time")
return function(tag)
  local db = sql.get("app:db")
  local tx, err = db:begin()
  if not tx then return nil, err end
  tx:execute("INSERT INTO t VALUES (?)", {tag})
  time.sleep("300ms")
  local ok, cerr = tx:commit()
  if not ok then return nil, cerr end
  return "committed"
end
"""

QUERY = """
local sql = require("sql")
return function(q)
  local db, gerr = sql.get("app:db")
  if not db then return nil, gerr end
  local rows, err = db:query(q)
  if not rows then return nil, err end
  return rows
end
"""


async def test_live_swap_in_flight_tx_finishes_on_old_pool(runtime, tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    with sqlite3.connect(a) as c:
        c.execute("CREATE TABLE t (v TEXT)")
    await runtime.put(("app:db", "db.sql.sqlite", {"file": str(a)}),
                      ("app:slow", "function.lua", {"source": SLOW_TX, "modules": ["sql", "time"], "method": "main"}),
                      ("app:q", "function.lua", {"source": QUERY, "modules": ["sql"], "method": "main"}))
    call = asyncio.create_task(runtime.call("app:slow", "x"))
    await asyncio.sleep(0.1)            # the transaction is open on a.db
    await runtime.put(("app:db", "db.sql.sqlite", {"file": str(b)}))
    # new work goes to the new pool: b.db has no table yet
    with pytest.raises(WippyError, match="no such table: t"):
        await runtime.call("app:q", "SELECT * FROM t")
    assert await call == "committed"    # the borrowed connection finished on the old pool
    with sqlite3.connect(a) as c:
        assert c.execute("SELECT v FROM t").fetchall() == [("x",)]


async def test_bad_database_entry_is_rejected_and_nothing_leaks(runtime, tmp_path):
    from wippy.data import Resources
    with pytest.raises(ApplyError, match="does not exist"):
        await runtime.put(("app:good", "db.sql.sqlite", {"file": str(tmp_path / "g.db")}),
                          ("app:bad", "db.sql.sqlite", {"file": str(tmp_path / "no" / "dir" / "x.db")}))
    assert "app:good" not in Resources.of(runtime.node).objects
    with pytest.raises(ApplyError, match="pool"):
        await runtime.put(("app:bad2", "db.sql.sqlite", {"file": ":memory:", "pool": {"max_open": 0}}))


async def test_deleted_database_is_gone(runtime, tmp_path):
    await runtime.put(("app:db", "db.sql.sqlite", {"file": ":memory:"}),
                      ("app:q", "function.lua", {"source": QUERY, "modules": ["sql"], "method": "main"}))
    assert await runtime.call("app:q", "SELECT 1 AS one") == [{"one": 1}]
    await runtime.delete("app:q", "app:db")
    await runtime.put(("app:q", "function.lua", {"source": QUERY, "modules": ["sql"], "method": "main"}))
    with pytest.raises(WippyError, match="database app:db not found"):
        await runtime.call("app:q", "SELECT 1")
