"""The sql module on SQLite: queries, params, typed params, statements, transactions,
savepoints, the builder, and clear errors for bad input."""
from __future__ import annotations

import asyncio

import pytest

from wippy.engine.errors import WippyError


@pytest.fixture
async def db_app(data_app, tmp_path):
    app = data_app
    from tests.engine.conftest import FakeEntry
    app.entries["app:db"] = FakeEntry("app:db", "db.sql.sqlite", {"file": str(tmp_path / "t.db")})
    app.entries["app:mem"] = FakeEntry("app:mem", "db.sql.sqlite", {"file": ":memory:"})
    yield app


async def test_query_execute_rows_and_params(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db, err = sql.get("app:db")
          assert(db, tostring(err))
          assert(db:type() == sql.type.SQLITE)
          local r = db:execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB)")
          local a = db:execute("INSERT INTO t (name, score) VALUES (?, ?)", {"ann", 1.5})
          local b = db:execute("INSERT INTO t (name, score) VALUES (?, ?)", {"bob", sql.as.null()})
          local rows = db:query("SELECT id, name, score FROM t ORDER BY id")
          local one = db:query("SELECT name FROM t WHERE id = ?", {sql.as.int("2")})
          local upd = db:execute("UPDATE t SET score = ? WHERE score IS NULL", {sql.as.float(3)})
          return {a.last_insert_id, b.last_insert_id, #rows, rows[1].name, rows[1].score, rows[2].score == nil,
                  one[1].name, upd.rows_affected}
        end""", modules=["sql"], method=None)
    assert out == [1, 2, 2, "ann", 1.5, True, "bob", 1]


async def test_errors_are_values_not_crashes(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:db")
          local r1, e1 = db:query("SELEC nonsense")
          local r2, e2 = db:query("SELECT * FROM missing_table")
          local r3, e3 = sql.get("app:nope")
          local r4, e4 = db:query("SELECT ?", {{nested = true}})
          local r5, e5 = db:query(42)
          db:release()
          local r6, e6 = db:query("SELECT 1")
          return {tostring(e1), tostring(e2), e3:kind(), tostring(e4), tostring(e5), tostring(e6),
                  r1 == nil and r2 == nil and r3 == nil and r4 == nil}
        end""", modules=["sql"], method=None)
    assert "syntax error" in out[0]
    assert "no such table: missing_table" in out[1]
    assert out[2] == "NotFound"
    assert "scalar" in out[3]
    assert "non-empty string" in out[4]
    assert "released" in out[5]
    assert out[6] is True


async def test_transactions_and_savepoints(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:mem")
          db:execute("CREATE TABLE t (v INTEGER)")
          local tx = db:begin()
          tx:execute("INSERT INTO t VALUES (1)")
          assert(tx:savepoint("sp1"))
          tx:execute("INSERT INTO t VALUES (2)")
          assert(tx:rollback_to("sp1"))
          tx:execute("INSERT INTO t VALUES (3)")
          assert(tx:release("sp1"))
          assert(tx:commit())
          local _, again = tx:commit()
          local tx2 = db:begin()
          tx2:execute("INSERT INTO t VALUES (4)")
          tx2:rollback()
          local rows = db:query("SELECT v FROM t ORDER BY v")
          local vals = {}
          for i, r in ipairs(rows) do vals[i] = r.v end
          local _, bad = db:begin():savepoint("x; DROP TABLE t")
          return {vals, tostring(again), tostring(bad)}
        end""", modules=["sql"], method=None)
    assert out[0] == [1, 3]
    assert "already finished" in out[1]
    assert "invalid savepoint name" in out[2]


async def test_prepare_and_builder(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:mem")
          db:execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)")
          local st = db:prepare("INSERT INTO users (name, age) VALUES (?, ?)")
          st:execute({"a", 10}); st:execute({"b", 20}); st:execute({"c", 30})
          st:close()
          local _, closed = st:execute({"d", 1})
          local b = sql.builder
          local q = b.select("name", "age"):from("users"):where(b.gt({age = 15})):order_by("age DESC"):limit(5)
          local s, args = q:to_sql()
          local rows = q:run_with(db):query()
          b.update("users"):set("age", 99):where({name = "a"}):run_with(db):exec()
          b.insert("users"):columns("name", "age"):values("e", 5):run_with(db):exec()
          b.delete("users"):where(b.or_({b.eq({name = "b"}), b.eq({name = "c"})})):run_with(db):exec()
          local left = db:query("SELECT name, age FROM users ORDER BY name")
          return {s, #args, rows[1].name, rows[2].name, tostring(closed), left}
        end""", modules=["sql"], method=None)
    assert out[0] == "SELECT name, age FROM users WHERE age > ? ORDER BY age DESC LIMIT 5"
    assert out[1:4] == [1, "c", "b"]
    assert "closed" in out[4]
    assert out[5] == [{"name": "a", "age": 99}, {"name": "e", "age": 5}]


async def test_binary_and_stats(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:mem")
          db:execute("CREATE TABLE b (d BLOB, t TEXT)")
          db:execute("INSERT INTO b VALUES (?, ?)", {sql.as.binary("abc"), sql.as.text(12)})
          local r = db:query("SELECT d, t, typeof(d) AS k FROM b")
          local st = db:stats()
          return {r[1].d, r[1].t, r[1].k, st.type, st.max_open}
        end""", modules=["sql"], method=None)
    assert out == ["abc", "12", "blob", "sqlite", 1]


async def test_builder_clauses(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local b = sql.builder
          local function s(q) local text, args = q:to_sql(); return {text, args} end
          local db = sql.get("app:mem")
          db:execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, status TEXT)")
          db:execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER, total REAL)")
          db:execute("CREATE TABLE temp_users (name TEXT, status TEXT)")
          db:execute("INSERT INTO users (id, name, status) VALUES (1, 'ann', 'a'), (2, 'bob', 'a'), (3, 'cy', 'b')")
          db:execute("INSERT INTO orders (user_id, total) VALUES (1, 10), (1, 5), (2, 7)")
          db:execute("INSERT INTO temp_users VALUES ('dee', 'c')")
          local joined = b.select("users.name", "SUM(orders.total) AS total"):distinct():from("users")
            :left_join("orders ON orders.user_id = users.id AND orders.total > ?", 6)
            :group_by("users.name"):having("SUM(orders.total) > ?", 1):order_by("users.name")
          local rows = joined:run_with(db):query()
          local copied = b.insert():into("users"):columns("name", "status")
            :select(b.select("name", "status"):from("temp_users"):where({status = "c"}))
          assert(copied:run_with(db):exec())
          local upd = b.update():table("users"):set("status", "z"):where({name = "dee"})
          assert(upd:run_with(db):exec())
          local del = b.delete():from("users"):where({status = "z"}):order_by("id"):limit(1)
          local executor = del:run_with(db)
          return {
            s(joined), rows,
            s(copied), db:query("SELECT COUNT(*) AS n FROM users")[1].n,
            s(b.insert("users"):options("DELAYED", "IGNORE"):columns("name"):values("x")),
            s(b.insert("users"):prefix("/* ? */", 1):columns("name"):values("x"):suffix("RETURNING id")),
            s(b.update("users"):set("status", "a"):from_select(b.select("*"):from("t"):where({n = 2}), "s")
                :where("users.id = s.id"):placeholder_format(b.dollar)),
            s(b.update("users"):set("rank", 1):order_by("score DESC"):limit(3):offset(1):placeholder_format(b.at)),
            s(b.delete("users"):where({id = 1}):placeholder_format(b.colon)),
            {executor:to_sql()},
            {sql.isolation.DEFAULT, sql.isolation.SERIALIZABLE, b.default_placeholder},
          }
        end""", modules=["sql"], method=None)
    assert out[0] == [
        "SELECT DISTINCT users.name, SUM(orders.total) AS total FROM users "
        "LEFT JOIN orders ON orders.user_id = users.id AND orders.total > ? "
        "GROUP BY users.name HAVING SUM(orders.total) > ? ORDER BY users.name", [6, 1]]
    assert out[1] == [{"name": "ann", "total": 10.0}, {"name": "bob", "total": 7.0}]
    assert out[2] == ["INSERT INTO users (name, status) SELECT name, status FROM temp_users WHERE status = ?", ["c"]]
    assert out[3] == 4
    assert out[4] == ["INSERT DELAYED IGNORE INTO users (name) VALUES (?)", ["x"]]
    assert out[5] == ["/* ? */ INSERT INTO users (name) VALUES (?) RETURNING id", [1, "x"]]
    assert out[6] == ["UPDATE users SET status = $1 FROM (SELECT * FROM t WHERE n = $2) AS s WHERE users.id = s.id",
                      ["a", 2]]
    assert out[7] == ["UPDATE users SET rank = @p1 ORDER BY score DESC LIMIT 3 OFFSET 1", [1]]
    assert out[8] == ["DELETE FROM users WHERE id = :1", [1]]
    assert out[9] == ["DELETE FROM users WHERE status = ? ORDER BY id LIMIT 1", ["z"]]
    assert out[10] == ["default", "serializable", "question"]


async def test_begin_options_on_sqlite(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:db")
          db:execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
          local ro = assert(db:begin({isolation = sql.isolation.SERIALIZABLE, read_only = true}))
          local _, write_err = ro:execute("INSERT INTO t VALUES (1)")
          local read = ro:query("SELECT COUNT(*) AS c FROM t")
          ro:rollback()
          local rw = assert(db:begin({read_only = false}))
          assert(rw:execute("INSERT INTO t VALUES (2)"))
          rw:commit()
          local after = db:execute("INSERT INTO t VALUES (3)")
          local _, level = db:begin({isolation = sql.isolation.READ_COMMITTED})
          local _, bad = db:begin({isolation = "chaos"})
          local _, bad_ro = db:begin({read_only = "yes"})
          return {write_err ~= nil, read[1].c, after.rows_affected, level:kind(), level:message(),
                  bad:kind(), bad_ro:kind()}
        end""", modules=["sql"], method=None)
    assert out[:4] == [True, 0, 1, "Invalid"]
    assert "serializable" in out[4]
    assert out[5:] == ["Invalid", "Invalid"]


async def test_open_transaction_is_rolled_back_when_its_process_ends(db_app):
    # the in-memory database has one connection: a transaction left open by a process that
    # ended (here by an error) must not hold it, or every later query would wait forever
    with pytest.raises(WippyError):
        await db_app.run("""
            local sql = require("sql")
            return function()
              local db = sql.get("app:mem")
              db:execute("CREATE TABLE t (n INTEGER)")
              local tx = db:begin()
              tx:execute("INSERT INTO t VALUES (1)")
              error("boom")
            end""", modules=["sql"], method=None)
    out = await asyncio.wait_for(db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:mem")
          local tx = db:begin()          -- left open again: this process returns normally
          tx:execute("INSERT INTO t VALUES (2)")
          return "left open"
        end""", modules=["sql"], method=None), 5)
    assert out == "left open"
    out = await asyncio.wait_for(db_app.run("""
        local sql = require("sql")
        return function() return sql.get("app:mem"):query("SELECT COUNT(*) AS c FROM t") end""",
        modules=["sql"], method=None), 5)
    assert out == [{"c": 0}]


async def test_sql_null_marker(db_app):
    out = await db_app.run("""
        local sql = require("sql")
        return function()
          local db = sql.get("app:mem")
          db:execute("CREATE TABLE n (a TEXT, b TEXT)")
          local params = {"x", sql.NULL}
          assert(db:execute("INSERT INTO n (a, b) VALUES (?, ?)", params))
          assert(sql.builder.insert("n"):columns("a", "b"):values("y", sql.NULL):run_with(db):exec())
          local rows = db:query("SELECT a, b FROM n WHERE b IS NULL ORDER BY a")
          local ok = pcall(function() sql.NULL.x = 1 end)
          return {#rows, rows[1].a, rows[2].a, params[2] == sql.NULL, ok, tostring(sql.NULL)}
        end""", modules=["sql"], method=None)
    assert out == [2, "x", "y", True, False, "sql.NULL"]
