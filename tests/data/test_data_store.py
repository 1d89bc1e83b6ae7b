"""The store module over store.memory and store.sql: get/set with TTL, has, delete,
max_size eviction, cleanup, and clear errors (missing key, bad ttl, closed store)."""
from __future__ import annotations


import pytest

from tests.data.conftest import add_entry
from wippy.data import Resources

SCRIPT = """
local store = require("store")
local time = require("time")
return function(id)
  local s, err = store.get(id)
  assert(s, tostring(err))
  assert(s:set("a", {n = 1, list = {1, 2}}))
  assert(s:set("b", "text", 0.2))
  local a = s:get("a")
  local b1 = s:get("b")
  local has_b1 = s:has("b")
  time.sleep("300ms")
  local b2, miss = s:get("b")
  local has_b2 = s:has("b")
  local del = s:delete("a")
  local del2 = s:delete("a")
  local _, bad_ttl = s:set("c", 1, -1)
  local _, bad_key = s:set("", 1)
  local _, nil_val = s:set("d", nil)
  return {a.n, a.list[2], b1, has_b1, b2 == nil, miss:kind(), has_b2, del, del2,
          tostring(bad_ttl), tostring(bad_key), tostring(nil_val)}
end
"""


@pytest.mark.parametrize("kind,data", [
    ("store.memory", {}),
    ("store.sql", {"database": "app:db", "table_name": "kv"}),
])
async def test_store_roundtrip_ttl_and_errors(data_app, kind, data):
    add_entry(data_app, "app:db", "db.sql.sqlite", file=":memory:")
    add_entry(data_app, "app:s", kind, **data)
    out = await data_app.run(SCRIPT, "app:s", modules=["store", "time"], method=None)
    assert out[:9] == [1, 2, "text", True, True, "NotFound", False, True, False]
    assert "ttl must not be negative" in out[9]
    assert "non-empty string" in out[10]
    assert "must not be nil" in out[11]


async def test_memory_store_max_size_evicts_oldest_and_cleanup(data_app):
    add_entry(data_app, "app:s", "store.memory", max_size=2, cleanup_interval="50ms")
    out = await data_app.run("""
        local store = require("store")
        local time = require("time")
        return function()
          local s = store.get("app:s")
          s:set("k1", 1); s:set("k2", 2); s:set("k3", 3)
          s:set("short", 1, 0.05)
          time.sleep("200ms")
          return {s:has("k1"), s:has("k2"), s:has("k3")}
        end""", modules=["store", "time"], method=None)
    assert out == [False, False, True]
    st = Resources.of(data_app.node).objects["app:s"]
    assert len(st.data) == 1          # the expired key was swept by the cleanup task


async def test_closed_and_missing_stores(data_app):
    add_entry(data_app, "app:s", "store.memory")
    add_entry(data_app, "app:notstore", "db.sql.sqlite")
    out = await data_app.run("""
        local store = require("store")
        return function()
          local s = store.get("app:s")
          s:set("k", 1)
          local _, missing = store.get("app:none")
          local _, wrong = store.get("app:notstore")
          local s2 = store.get("app:s")
          s2:release()
          local _, rel = s2:get("k")
          return {missing:kind(), tostring(wrong), tostring(rel)}
        end""", modules=["store"], method=None)
    assert out[0] == "NotFound"
    assert "not a store" in out[1]
    assert "released" in out[2]
    Resources.of(data_app.node).objects["app:s"].close()
    out = await data_app.run("""
        local store = require("store")
        return function()
          local s, err = store.get("app:s")
          if not s then return tostring(err) end
          return "no error"
        end""", modules=["store"], method=None)
    assert out == "store app:s is closed"


VERSIONED = """
local store = require("store")
local time = require("time")
return function(id)
  local s = assert(store.get(id))
  local info = s:info()
  local e1 = assert(s:put("user:1", {name = "Ann"}))
  local e1b = assert(s:entry("user:1"))
  assert(s:set("user:2", "Bob"))
  assert(s:set("user:3", {n = 3}))
  assert(s:set("other", 1))
  assert(s:set("user:%_!", "odd"))
  assert(s:set("user:gone", 1, 0.05))
  time.sleep("100ms")
  local e2 = assert(s:put("user:1", {name = "Anna"}, {ttl = 60}))
  local p1 = assert(s:list({prefix = "user:", limit = 2}))
  local p2 = assert(s:list({prefix = "user:", after = p1.cursor, limit = 2}))
  local all = assert(s:list())
  local odd = assert(s:list({prefix = "user:%"}))
  local _, missing = s:entry("nope")
  local _, bad_limit = s:list({limit = 0})
  local _, both = s:put("k", 1, {only_if_absent = true, if_version = "1"})
  local keys = function(p) local out = {} for i, e in ipairs(p.items) do out[i] = e.key end return out end
  return {
    info = info,
    e1 = {e1.key, e1.value.name, e1.version == e1b.version, e1b.value.name},
    changed = e2.version ~= e1.version, e2 = e2.value.name,
    p1 = keys(p1), p1_more = p1.has_more, p1_cursor = p1.cursor,
    p2 = keys(p2), p2_more = p2.has_more, p2_value = p2.items[1].value,
    all = keys(all), odd = keys(odd),
    missing = missing:kind(), bad_limit = {bad_limit:kind(), bad_limit:message()},
    both = {both:kind(), both:message()},
    constants = {store.backend.MEMORY, store.backend.KV_RAFT, store.consistency.LINEARIZABLE},
  }
end
"""


@pytest.mark.parametrize("kind,data", [
    ("store.memory", {}),
    ("store.sql", {"database": "app:db", "table_name": "kv"}),
])
async def test_store_entries_versions_lists_and_info(data_app, kind, data):
    add_entry(data_app, "app:db", "db.sql.sqlite", file=":memory:")
    add_entry(data_app, "app:s", kind, **data)
    out = await data_app.run(VERSIONED, "app:s", modules=["store", "time"], method=None)
    memory = kind == "store.memory"
    assert out["info"] == {"id": "app:s", "backend": "memory" if memory else "sql",
                           "consistency": "local" if memory else "linearizable", "durable": not memory,
                           "list": True, "versioned": True, "conditional_put": memory, "ttl": True}
    assert out["e1"] == ["user:1", "Ann", True, "Ann"]
    assert out["changed"] is True and out["e2"] == "Anna"
    # key order, paging with a cursor, expired keys left out, LIKE wildcards taken literally
    assert out["p1"] == ["user:%_!", "user:1"] and out["p1_more"] is True and out["p1_cursor"] == "user:1"
    assert out["p2"] == ["user:2", "user:3"] and out["p2_more"] is False and out["p2_value"] == "Bob"
    assert out["all"] == ["other", "user:%_!", "user:1", "user:2", "user:3"]
    assert out["odd"] == ["user:%_!"]
    assert out["missing"] == "NotFound"
    assert out["bad_limit"][0] == "Invalid" and "limit" in out["bad_limit"][1]
    assert out["both"][0] == "Invalid" and "mutually exclusive" in out["both"][1]
    assert out["constants"] == ["memory", "kv.raft", "linearizable"]


async def test_conditional_writes(data_app):
    add_entry(data_app, "app:db", "db.sql.sqlite", file=":memory:")
    add_entry(data_app, "app:mem", "store.memory")
    add_entry(data_app, "app:sql", "store.sql", database="app:db", table_name="kv")
    out = await data_app.run("""
        local store = require("store")
        return function()
          local s = store.get("app:mem")
          local lock = assert(s:put("lock", "me", {only_if_absent = true}))
          local _, taken = s:put("lock", "you", {only_if_absent = true})
          local cur = s:entry("lock")
          local moved = assert(s:put("lock", "me again", {if_version = cur.version}))
          local _, stale = s:put("lock", "late", {if_version = cur.version})
          local _, absent = s:put("new", 1, {if_version = "1"})
          local final = s:get("lock")
          local q = store.get("app:sql")
          local plain = assert(q:put("k", {1, 2}))
          local _, refused = q:put("k", 3, {only_if_absent = true})
          return {lock.value, taken:kind(), taken:retryable(), moved.value, stale:kind(), stale:retryable(),
                  absent:kind(), final, plain.value[2], refused:kind(), refused:message(), q:get("k")[1]}
        end""", modules=["store"], method=None)
    assert out[:10] == ["me", "AlreadyExists", False, "me again", "Conflict", True, "Conflict", "me again", 2, "Invalid"]
    assert "conditional" in out[10] and out[11] == 1


async def test_store_permissions(data_app):
    add_entry(data_app, "app:s", "store.memory")
    s = await data_app.run("""
        local store = require("store")
        return function() local s = store.get("app:s"); s:set("k", 1); return "ok" end""",
        modules=["store"], method=None)
    assert s == "ok"
    data_app.engine.S.strict = True     # no actor and scope: every action is denied
    out = await data_app.run("""
        local store = require("store")
        return function()
          local _, err = store.get("app:s")
          return {err:kind(), err:message()}
        end""", modules=["store"], method=None)
    assert out == ["PermissionDenied", "permission denied: store.get on app:s"]
