"""registry module (lua/core/registry.md) on a real runtime: get/find with filters and
operators, what a find sees after a change applied in the same run, snapshots, versions,
history, changesets, rollback, deltas, and `registry.get` filtering reads."""
from __future__ import annotations

from pathlib import Path

import pytest

from wippy.runtime import Runtime

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: lib.assert
    kind: function.lua
    meta: {type: test, tags: [unit, fast], owner: team-alpha, priority: 3}
    method: f
    source: "return function() return true end"
  - name: api.users
    kind: registry.entry
    meta: {type: endpoint, owner: team-beta}
    data: {path: /users}
  - name: main
    kind: process.lua
    method: main
    modules: [registry]
    source: file://main.lua
  - name: reader.allow
    kind: security.policy
    policy: {actions: "registry.get", resources: "app:lib.*"}
"""


@pytest.fixture
async def rt(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "main.lua").write_text("return {main = function(body) return load(body, 'body', 't', _ENV)() end}")
    runtime = Runtime(tmp_path, node_name="t")
    await runtime.start()
    yield runtime
    await runtime.stop()


async def run(rt, body: str, **options):
    return await rt.node.exec("app:main", "app:procs", ["local registry = require('registry')\n" + body],
                              options=options or None)


async def test_get_and_parse_id(rt):
    res = await run(rt, """
    local e = registry.get("app:lib.assert")
    local missing, err = registry.get("app:nope")
    local id = registry.parse_id("app.lib:assert")
    local _, bad = registry.parse_id("no-colon")
    return {e.id, e.kind, e.meta.type, e.data.method, missing == nil, err:kind(), id.ns, id.name, bad:kind()}
    """)
    assert res == ["app:lib.assert", "function.lua", "test", "f", True, "NotFound", "app.lib", "assert", "Invalid"]


@pytest.mark.parametrize("flt, ids", [
    ('{[".kind"] = "function.lua"}', ["app:lib.assert"]),
    ('{[".kind"] = "registry.entry", [".ns"] = "app"}', ["app:api.users"]),
    ('{[".name"] = "api.*"}', ["app:api.users"]),
    ('{["meta.type"] = "test"}', ["app:lib.assert"]),
    ('{type = "endpoint"}', ["app:api.users"]),
    ('{["meta.owner"] = "^team"}', ["app:api.users", "app:lib.assert"]),
    ('{["meta.owner"] = "$beta"}', ["app:api.users"]),
    ('{["meta.owner"] = "*alp"}', ["app:lib.assert"]),
    ('{["meta.owner"] = "~^team-(a|b)"}', ["app:api.users", "app:lib.assert"]),
    ('{["meta.owner"] = "team-*"}', ["app:api.users", "app:lib.assert"]),
    ('{["meta.tags"] = "fast"}', ["app:lib.assert"]),
    ('{["meta.priority"] = 3}', ["app:lib.assert"]),
    ('{["meta.type"] = "test", [".kind"] = "registry.entry"}', []),
])
async def test_find_filters_and_operators(rt, flt, ids):
    res = await run(rt, f"""
    local found, err = registry.find({flt})
    assert(err == nil, tostring(err))
    local out = {{}}
    for _, e in ipairs(found) do out[#out + 1] = e.id end
    return out
    """)
    assert res == ids


async def test_find_errors(rt):
    res = await run(rt, """
    local _, e1 = registry.find({[".bogus"] = "x"})
    local _, e2 = registry.find({["meta.owner"] = "~(unclosed"})
    local _, e3 = registry.find("not a table")
    return {e1:kind(), e2:kind(), e3:kind()}
    """)
    assert res == ["Invalid", "Invalid", "Invalid"]


async def test_find_sees_entries_added_in_the_same_run(rt):
    res = await run(rt, """
    local before = registry.snapshot()
    local v, err = before:changes():create({id = "app:added", kind = "registry.entry",
                                            meta = {type = "test"}, data = {n = 1}}):apply()
    assert(v, tostring(err))
    local live = {}
    for _, e in ipairs(registry.find({["meta.type"] = "test"})) do live[#live + 1] = e.id end
    local old = {}
    for _, e in ipairs(before:find({["meta.type"] = "test"})) do old[#old + 1] = e.id end
    return {live, old, registry.get("app:added").data.n, before:get("app:added") == nil}
    """)
    assert res == [["app:added", "app:lib.assert"], ["app:lib.assert"], 1, True]


async def test_snapshots_versions_and_history(rt):
    res = await run(rt, """
    local v0 = registry.current_version()
    local snap = registry.snapshot()
    local v1 = snap:changes():create({id = "app:x", kind = "registry.entry", data = {}}):apply()
    local v2 = registry.snapshot():changes():update({id = "app:x", kind = "registry.entry", meta = {updated = true}, data = {}}):apply()
    local at1, err = registry.snapshot_at(v1)
    local _, missing = registry.snapshot_at(9999)
    local ns = {}
    for _, e in ipairs(at1:namespace("app")) do ns[#ns + 1] = e.id end
    local hist = registry.history()
    local hv = hist:get_version(v1:id())
    local _, no_version = hist:get_version(9999)
    local hs = hist:snapshot_at(v2)
    return {
      v1:id() == v0:id() + 1, v2:previous():id() == v1:id(), v1:next():id() == v2:id(), v2:next() == nil,
      v1:string() == tostring(v1:id()), snap:version():id() == v0:id(), at1:get("app:x").meta.updated == nil,
      hs:get("app:x").meta.updated, #at1:entries() == #ns + 0, missing:kind(), hv:id() == v1:id(),
      no_version:kind(), #hist:versions() == #registry.versions(), #registry.versions() >= 3,
    }
    """)
    assert res == [True, True, True, True, True, True, True, True, True, "NotFound", True, "NotFound", True, True]


async def test_changesets_rollback_and_delta(rt):
    res = await run(rt, """
    local changes = registry.snapshot():changes()
    changes:create({id = "app:tmp", kind = "registry.entry", meta = {}, data = {v = 1}})
    changes:delete("app:api.users")
    local ops = changes:ops()
    local before = registry.current_version()
    local v, err = changes:apply()
    assert(v, tostring(err))
    local gone = registry.get("app:api.users") == nil
    local ok, rerr = registry.apply_version(before)
    local back = registry.get("app:api.users") ~= nil and registry.get("app:tmp") == nil
    local _, empty = registry.snapshot():changes():apply()
    local _, bad = registry.snapshot():changes():create({id = "no id", kind = "registry.entry"}):apply()
    local delta = registry.build_delta({{id = "test:a", kind = "test", meta = {}, data = {}}},
                                       {{id = "test:b", kind = "test", meta = {}, data = {}}})
    local kinds = {}
    for _, op in ipairs(delta) do kinds[#kinds + 1] = op.kind .. " " .. op.entry.id end
    table.sort(kinds)
    return {#ops, ops[1].kind, gone, ok, back, empty:kind(), bad:kind(), kinds}
    """)
    assert res == [2, "entry.create", True, True, True, "Invalid", "Invalid",
                   ["entry.create test:b", "entry.delete test:a"]]


async def test_registry_get_permission_filters_reads(rt):
    res = await run(rt, """
    local ok = registry.get("app:lib.assert")
    local denied, err = registry.get("app:api.users")
    local ids = {}
    for _, e in ipairs(registry.find({["meta.owner"] = "^team"})) do ids[#ids + 1] = e.id end
    local snap_ids = {}
    for _, e in ipairs(registry.snapshot():entries()) do snap_ids[#snap_ids + 1] = e.id end
    return {ok ~= nil, denied == nil, err:kind(), ids, snap_ids}
    """, actor={"id": "reader"}, scope=["app:reader.allow"])
    assert res == [True, True, "PermissionDenied", ["app:lib.assert"], ["app:lib.assert"]]
