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
