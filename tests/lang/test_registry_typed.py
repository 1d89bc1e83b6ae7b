"""Typed Lua that enters through the `registry` module at run time (a Lua process applying a
changeset) goes through the same front end as file sources: it runs with its types as values,
a runtime error names its own line, a syntax error refuses the change naming entry and line."""
from __future__ import annotations

from pathlib import Path

import pytest

from wippy.runtime import Runtime

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: main
    kind: process.lua
    method: main
    modules: [registry, funcs]
    source: file://main.lua
"""

# the program a Lua process writes into the registry: typed, with a validator, and an error on line 7
TYPED = '''type Order = {id: integer @min(1), items: {string}}

function main(o: Order): integer
    local order = Order(o)
    local n: integer = #order.items
    if n == 0 then
        error("order " .. order.id .. " has no items")
    end
    return n
end
'''


@pytest.fixture
async def rt(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "main.lua").write_text("return {main = function(body) return load(body, 'body', 't', _ENV)() end}")
    runtime = Runtime(tmp_path, node_name="t")
    await runtime.start()
    yield runtime
    await runtime.stop()


async def run(rt, body: str):
    return await rt.node.exec("app:main", "app:procs", [
        "local registry = require('registry')\nlocal funcs = require('funcs')\n" + body])


def create(source: str) -> str:
    return f"""
    local v, err = registry.snapshot():changes():create({{id = "app:typed", kind = "function.lua", meta = {{}},
        data = {{source = {source!r}, method = "main"}}}}):apply()
    """


async def test_typed_code_applied_from_lua_runs(rt):
    res = await run(rt, create(TYPED) + """
    if not v then return {"apply failed", tostring(err)} end
    local n = funcs.call("app:typed", {id = 1, items = {"a", "b"}})
    local _, bad = funcs.call("app:typed", {id = 0, items = {"a"}})
    local _, empty = funcs.call("app:typed", {id = 7, items = {}})
    return {n, tostring(bad), tostring(empty)}
    """)
    assert res[0] == 2
    assert "invalid Order: id: 0 violates @min(1)" in res[1]
    assert "app:typed:7: order 7 has no items" in res[2]


async def test_a_typed_syntax_error_applied_from_lua_is_refused_with_entry_and_line(rt):
    broken = TYPED.replace("local n: integer = #order.items", "local n: integer = = #order.items")
    res = await run(rt, create(broken) + """
    return {v == nil, tostring(err), registry.get("app:typed") == nil}
    """)
    assert res[0] is True and res[2] is True
    assert "app:typed:5:" in res[1] and "Lua syntax error" in res[1]
