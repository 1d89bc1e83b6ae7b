"""Types are values at run time: T(v) validates (raising an Invalid error that names the field
and the rule), T:is(v) returns v, nil or nil, err, validators are enforced, the reflection API
of lua/types.md works, and a library's exported types reach the entries importing it."""
from __future__ import annotations

import pytest

from wippy.engine.errors import WippyError

USER = """
type User = {
    name: string @min_len(1) @max_len(20),
    age: integer @min(0) @max(150),
    email?: string @pattern("^.+@.+$"),
    tags?: {string},
}
"""


async def test_calling_a_type_returns_the_value(app):
    r = await app.run(USER + """
    function main()
        local u = User({name = "ann", age = 30, tags = {"a"}})
        return {u.name, u.age, integer(4.0), math.type(integer(4.0)), string("s"), number(1.5), boolean(false)}
    end""")
    assert r == ["ann", 30, 4, "integer", "s", 1.5, False]


@pytest.mark.parametrize("value,message", [
    ('{name = "ann", age = -1}', "invalid User: age: -1 violates @min(0)"),
    ('{name = "ann", age = 151}', "invalid User: age: 151 violates @max(150)"),
    ('{name = "", age = 1}', 'invalid User: name: "" violates @min_len(1)'),
    ('{name = string.rep("x", 21), age = 1}', "violates @max_len(20)"),
    ('{name = "a", age = 1, email = "nope"}', 'invalid User: email: "nope" violates @pattern("^.+@.+$")'),
    ('{name = "a", age = 1.5}', "invalid User: age: expected integer, got 1.5"),
    ('{name = 7, age = 1}', "invalid User: name: expected string, got 7"),
    ('{age = 1}', "invalid User: name: missing required field (string @min_len(1) @max_len(20))"),
    ('{name = "a", age = 1, tags = {"x", 2}}', "invalid User: tags[2]: expected string, got 2"),
    ('"text"', 'invalid User: expected User, got "text"'),
])
async def test_a_bad_value_raises_an_error_naming_field_and_rule(app, value, message):
    with pytest.raises(WippyError) as e:
        await app.run(USER + f"function main() return User({value}) end")
    assert message in e.value.message
    assert e.value.kind == "Invalid"


async def test_is_returns_value_or_nil_and_error(app):
    r = await app.run(USER + """
    function main()
        local ok, e1 = User:is({name = "a", age = 3})
        local bad, e2 = User:is({name = "a", age = -3})
        return {ok.age, e1 == nil, bad == nil, e2:kind(), e2:message(), Number:is("x") == nil}
    end""")
    assert r == [3, True, True, "Invalid", "invalid User: age: -3 violates @min(0)", True]


async def test_validators_on_arrays_unions_and_literals(app):
    r = await app.run("""
    type Scores = {number @min(0) @max(100)}
    type Id = number @min(1) | string @min_len(1)
    type Status = "pending" | "active" | "done"
    type Short = {string} @max_len(2)
    function main()
        local out = {}
        out[1] = Scores:is({85, 90}) ~= nil
        out[2] = select(2, Scores:is({85, 101})):message()
        out[3] = Id:is(1) ~= nil and Id:is("x") ~= nil
        out[4] = Id:is(0) == nil and Id:is("") == nil
        out[5] = Status("active")
        out[6] = select(2, Status:is("invalid")):message()
        out[7] = select(2, Short:is({"a", "b", "c"})):message()
        return out
    end""")
    assert r == [True, "invalid Scores: [2]: 101 violates @max(100)", True, True, "active",
                 'invalid Status: expected Status, got "invalid"',
                 'invalid Short: table violates @max_len(2)']


async def test_tagged_unions_generics_intersections_and_recursion(app):
    r = await app.run("""
    type Result<T, E> = {ok: true, value: T} | {ok: false, error: E}
    type Named = {name: string}
    type Aged = {age: number}
    type Person = Named & Aged
    type Node = {value: integer, next: Node?}
    function main()
        local IntResult = Result :: any
        local out = {}
        local R = __wt.apply(Result, {Integer, String})
        out[1] = R:is({ok = true, value = 1}) ~= nil
        out[2] = select(2, R:is({ok = true, value = "x"})):message()
        out[3] = R:is({ok = false, error = "boom"}) ~= nil
        out[4] = Person:is({name = "a", age = 1}) ~= nil
        out[5] = select(2, Person:is({name = "a"})):message()
        out[6] = Node:is({value = 1, next = {value = 2}}) ~= nil
        out[7] = select(2, Node:is({value = 1, next = {value = "x"}})):message()
        out[8] = tostring(R)
        return out
    end""")
    assert r == [True, "invalid Result<integer, string>: value: expected integer, got \"x\"", True, True,
                 "invalid Person: age: missing required field (number)", True,
                 "invalid Node: next.value: expected integer, got \"x\"", "Result<integer, string>"]


async def test_generic_annotation_applies_type_arguments(app):
    r = await app.run("""
    type Box<T> = {item: T}
    type Boxes = {Box<integer>}
    function main()
        return {Boxes:is({{item = 1}}) ~= nil, select(2, Boxes:is({{item = "no"}})):message()}
    end""")
    assert r == [True, 'invalid Boxes: [1].item: expected integer, got "no"']


async def test_reflection(app):
    r = await app.run("""
    type Point = {x: number, y: number}
    type User = {name: string, age: number}
    type Status = "pending" | "active" | "done"
    function main()
        local out = {}
        out.kinds = {Number:kind(), Point:kind(), Point:name(), Status:kind(), User:name(), User:kind()}
        local fields = {}
        for name, typ in User:fields() do fields[#fields + 1] = name .. "=" .. typ:kind() end
        out.fields = fields
        out.field = User.name:kind()
        local arr: {number} = {1, 2, 3}
        out.elem = typeof(arr):elem():kind()
        local map: {[string]: number} = {}
        out.map = {typeof(map):key():kind(), typeof(map):val():kind()}
        local opt: number? = nil
        out.opt = {typeof(opt):kind(), typeof(opt):inner():kind()}
        local variants = {}
        for v in Status:variants() do variants[#variants + 1] = v:value() end
        out.variants = variants
        local fn: (number, string) -> boolean = function(a, b) return true end
        local params = {}
        for p in typeof(fn):params() do params[#params + 1] = p:kind() end
        out.params = params
        out.ret = typeof(fn):ret():kind()
        out.cmp = {Number == Number, Integer <= Number, Integer < Number, Number < Integer, Number <= Number}
        local handlers = {}
        handlers[Number] = "number handler"
        handlers[String] = "string handler"
        out.keys = {handlers[typeof(1.5)], handlers[typeof("s")], handlers[typeof(1)] or "none"}
        return out
    end""")
    assert r["kinds"] == ["number", "record", "Point", "union", "User", "record"]
    assert r["fields"] == ["name=string", "age=number"]
    assert r["field"] == "string"
    assert r["elem"] == "number"
    assert r["map"] == ["string", "number"]
    assert r["opt"] == ["optional", "number"]
    assert r["variants"] == ["pending", "active", "done"]
    assert r["params"] == ["number", "string"]
    assert r["ret"] == "boolean"
    assert r["cmp"] == [True, True, True, False, True]
    assert r["keys"] == ["number handler", "string handler", "none"]


async def test_type_values_are_read_only_and_their_metatable_unreachable(app):
    r = await app.run("""
    type Point = {x: number}
    function main()
        local out = {}
        out[1] = select(2, pcall(function() Point.x = 1 end))
        out[2] = select(2, pcall(rawset, Number, "kind", function() return "hacked" end))
        out[3] = getmetatable(Number)
        out[4] = select(2, pcall(setmetatable, Number, {}))
        out[5] = select(2, pcall(function() string.upper = nil end))
        out[6] = Number:kind()
        return out
    end""")
    assert "types are read-only" in r[0]
    assert "read-only" in r[1]
    assert r[2] is False
    assert "protected metatable" in r[3]
    assert "read-only" in r[4]
    assert r[5] == "number"


async def test_a_library_exports_its_types_to_importing_entries(app):
    app.add("app:models", "library.lua", """
    export type Order = {id: integer @min(1), items: {string} @min_len(1)}
    type Internal = {secret: string}
    local M = {}
    function M.total(o: Order): integer return #o.items end
    return M
    """, method=None)
    r = await app.run("""
    local models = require("models")
    function main()
        local ok = models.Order({id = 1, items = {"a"}})
        local bad, err = models.Order:is({id = 0, items = {"a"}})
        return {models.total(ok), bad == nil, err:message(), models.Internal == nil, models.Order:name()}
    end""", imports={"models": "app:models"})
    assert r == [1, True, "invalid Order: id: 0 violates @min(1)", True, "Order"]


async def test_builtins_carry_the_signatures_the_linter_reads(app):
    r = await app.run("""
    local json = require("json")
    function main()
        local decode = typeof(json.decode)
        local params = {}
        for p in decode:params() do params[#params + 1] = p:kind() end
        local floor = typeof(math.floor)
        return {decode:kind(), decode:name(), params, decode:ret():kind(),
                floor:ret():kind(), typeof(string.upper):name(),
                typeof(function() end):kind(), typeof(function() end):name()}
    end""", modules=["json"])
    assert r == ["function", "json.decode", ["string"], "any", "integer", "string.upper", "function", "function"]
