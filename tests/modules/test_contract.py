"""contract module (lua/core/contract.md) with contract.definition / contract.binding entries
(guides/entry-kinds.md), loaded from an app folder's YAML."""
from __future__ import annotations

import pytest

from wippy.runtime import Runtime

INDEX = """
version: "1.0"
namespace: app.services
entries:
  - name: greeter
    kind: contract.definition
    methods:
      - name: say_hello
        description: Returns a greeting
      - name: greet_with_name
        description: Returns a personalized greeting
        input_schemas:
          - format: "application/schema+json"
            definition: {"type": "string"}
        output_schemas:
          - format: "application/schema+json"
            definition: {"type": "string"}
  - name: hello
    kind: function.lua
    method: main
    modules: [ctx]
    source: |
      local ctx = require("ctx")
      function main(name) return "Hello, " .. tostring(name) .. (ctx.get("tenant_id") and (" @" .. ctx.get("tenant_id")) or "") end
  - name: flaky
    kind: function.lua
    method: main
    modules: [store]
    source: |
      local n = 0
      function main()
        n = n + 1
        if n < 3 then return nil, errors.new({kind = errors.UNAVAILABLE, message = "try again", retryable = true}) end
        return n
      end
  - name: failing
    kind: function.lua
    method: main
    source: |
      function main() return nil, errors.new({kind = errors.INVALID, message = "bad", retryable = false}) end
  - name: greeter_impl
    kind: contract.binding
    contracts:
      - contract: greeter
        default: true
        methods:
          say_hello: hello
          greet_with_name: app.services:hello
  - name: other_impl
    kind: contract.binding
    contracts:
      - contract: greeter
        methods:
          say_hello: hello
          greet_with_name: hello
      - contract: flaky_contract
        methods: {call: flaky, fail: failing}
  - name: flaky_contract
    kind: contract.definition
    methods: [{name: call}, {name: fail}]
  - name: typed
    kind: contract.definition
    methods:
      - name: count
        output_schemas: [{format: "application/schema+json", definition: {"type": "integer"}}]
  - name: typed_impl
    kind: contract.binding
    contracts: [{contract: typed, methods: {count: hello}}]
  - name: run
    kind: function.lua
    method: main
    modules: [contract, funcs]
    source: "function main() end"
"""


@pytest.fixture
async def rt(tmp_path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    r = Runtime(tmp_path, node_name="test", persist_history=False)
    r.tmp = tmp_path
    await r.start()
    assert not r.errors, r.errors
    yield r
    await r.stop()


async def lua(rt, body):
    from wippy.registry import Entry, Op
    e = rt.registry.get("app.services:run")
    src = "local contract = require('contract')\nfunction main()\n" + body + "\nend"
    await rt.registry.apply([Op.update(Entry(e.id, e.kind, {}, dict(e.data, source=src)))])
    return await rt.call("app.services:run")


async def test_open_and_call(rt):
    assert await lua(rt, """
    local greeter, err = contract.open("app.services:greeter_impl")
    assert(err == nil, tostring(err))
    return {greeter:say_hello("Alice"), greeter:greet_with_name("Bob")}
    """) == ["Hello, Alice", "Hello, Bob"]


async def test_scope_and_query(rt):
    assert await lua(rt, """
    local svc = contract.open("app.services:greeter_impl", {tenant_id = "acme"})
    local q = contract.open("app.services:greeter_impl?tenant_id=beta&debug=true")
    local both = contract.open("app.services:greeter_impl?tenant_id=beta", {tenant_id = "gamma"})
    return {svc:say_hello("A"), q:say_hello("B"), both:say_hello("C")}
    """) == ["Hello, A @acme", "Hello, B @beta", "Hello, C @gamma"]


async def test_get_contract(rt):
    res = await lua(rt, """
    local c, err = contract.get("app.services:greeter")
    local m = c:method("greet_with_name")
    local _, merr = c:method("nope")
    local names = {}
    for _, x in ipairs(c:methods()) do names[#names + 1] = x.name .. "=" .. x.description end
    return {c:id(), names, m.input_schemas[1].definition.type, m.output_schemas[1].format, merr:kind()}
    """)
    assert res == ["app.services:greeter", ["say_hello=Returns a greeting", "greet_with_name=Returns a personalized greeting"],
                   "string", "application/schema+json", "NotFound"]


async def test_implementations_and_is(rt):
    res = await lua(rt, """
    local bindings = contract.find_implementations("app.services:greeter")
    local c = contract.get("app.services:greeter")
    local inst = contract.open("app.services:greeter_impl")
    return {bindings, c:implementations(), contract.is(inst, "app.services:greeter"),
            contract.is(inst, "app.services:flaky_contract"), contract.is({}, "app.services:greeter")}
    """)
    assert res == [["app.services:greeter_impl", "app.services:other_impl"]] * 2 + [True, False, False]


async def test_open_via_contract(rt):
    assert await lua(rt, """
    local c = contract.get("app.services:greeter")
    local a = c:open()
    local b = c:open("app.services:other_impl")
    local d = c:open(nil, {tenant_id = "x"})
    local w = c:with_context({tenant_id = "ctx"}):open()
    local _, err = contract.get("app.services:flaky_contract"):open()
    return {a:say_hello("1"), b:say_hello("2"), d:say_hello("3"), w:say_hello("4"), err:kind()}
    """) == ["Hello, 1", "Hello, 2", "Hello, 3 @x", "Hello, 4 @ctx", "NotFound"]


async def test_async_call(rt):
    assert await lua(rt, """
    local inst = contract.open("app.services:greeter_impl")
    local future, err = inst:say_hello_async("Z")
    assert(err == nil)
    local payload, ok = future:response():receive()
    return {ok, payload:data()}
    """) == [True, "Hello, Z"]


async def test_retry_options(rt):
    res = await lua(rt, """
    local plain = contract.open("app.services:other_impl")
    local _, e1 = plain:call()
    local inst = contract.open("app.services:other_impl", nil, {retry = {max_attempts = 5, initial_delay = 10}})
    local v = inst:call()
    local _, e2 = inst:fail()
    local c = contract.get("app.services:flaky_contract")
    local v2 = c:with_options({retry = {max_attempts = 5, initial_delay = "10ms"}}):open("app.services:other_impl"):call()
    return {e1:kind(), v, e2:kind(), v2}
    """)
    # the function instance keeps its counter: 1st call fails (n=1); retried calls reach n=3, then n=4
    assert res[0] == "Unavailable" and res[1] == 3 and res[2] == "Invalid" and res[3] >= 4


@pytest.mark.parametrize("call, kind", [
    ('contract.open("")', "Invalid"),
    ('contract.open("app.services:nosuch")', "NotFound"),
    ('contract.open("app.services:greeter")', "NotFound"),
    ('contract.get("app.services:nosuch")', "NotFound"),
    ('contract.get("app.services:greeter_impl")', "NotFound"),
    ('contract.open("app.services:greeter_impl"):nosuch()', "NotFound"),
    ('contract.find_implementations(5)', "Invalid"),
])
async def test_errors(rt, call, kind):
    assert await lua(rt, f"local v, err = {call}; return {{v == nil, err:kind()}}") == [True, kind]


def test_models():
    from wippy.kinds.models.catalog import MODELS
    b = MODELS["contract.binding"].from_data({"contracts": [{"contract": "c", "methods": {"m": "f"}}]})
    assert b.references("app") == {"app:c", "app:f"}
    with pytest.raises(ValueError):
        MODELS["contract.binding"].from_data({"contracts": []})
    with pytest.raises(ValueError):
        MODELS["contract.definition"].from_data({"methods": [{"name": "bad name"}]})


async def test_schemas_are_enforced(rt):
    res = await lua(rt, """
    local g = contract.open("app.services:greeter_impl")
    local ok = g:greet_with_name("Bob")
    local v, err = g:greet_with_name(42)
    return {ok, v == nil, err:kind(), err:message()}
    """)
    assert res[:3] == ["Hello, Bob", True, "Invalid"] and "argument 1" in res[3]
    res = await lua(rt, """
    local v, err = contract.open("app.services:typed_impl"):count("x")
    return {v == nil, err:kind(), err:message()}
    """)
    assert res[:2] == [True, "Internal"] and "result" in res[2]
