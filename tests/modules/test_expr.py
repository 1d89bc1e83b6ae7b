"""expr module (lua/dynamic/expression.md): eval, compile, Program:run, built-ins, errors."""
from __future__ import annotations

import pytest


async def run(app, body: str, *args):
    return await app.run("local expr = require('expr')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["expr"])


@pytest.mark.parametrize("src, env, want", [
    ("1 + 2 * 3", None, 7),
    ("price * quantity", "{price = 29.99, quantity = 3}", pytest.approx(89.97)),
    ("age >= 18", "{age = 21}", True),
    ('name + " is " + status', '{name = "Alice", status = "online"}', "Alice is online"),
    ('score > 90 ? "A" : score > 80 ? "B" : "C"', "{score = 85}", "B"),
    ('"admin" in roles', '{roles = {"user", "admin", "viewer"}}', True),
    ("x + y * 2", "{x = 10, y = 5}", 20),
    ("10 / 2 - 1", None, 4),
    ("10 % 3", None, 1),
    ("x == y", "{x = 1, y = 1}", True),
    ("a && b", "{a = true, b = false}", False),
    ("a || b", "{a = true, b = false}", True),
    ("!a", "{a = false}", True),
    ("x > 0 ? 'positive' : 'negative'", "{x = 5}", "positive"),
    ("[1, 2, 3][0]", None, 1),
    ("'hello' + ' ' + 'world'", None, "hello world"),
    ("max(1, 5, 3)", None, 5), ("min(10, 2, 8)", None, 2), ("abs(-42)", None, 42),
    ("ceil(3.2)", None, 4), ("floor(3.8)", None, 3),
    ('len("hello")', None, 5), ('upper("hello")', None, "HELLO"), ('lower("HELLO")', None, "hello"),
    ('trim("  hi  ")', None, "hi"), ('"hello" contains "ell"', None, True),
    ("len(items)", "{items = {1, 2, 3}}", 3), ("sum(values)", "{values = {1, 2, 3, 4}}", 10),
    ("len([1, 2, 3])", None, 3),
    ("filter(nums, # > 2)", "{nums = {1, 2, 3, 4}}", [3, 4]),
    ("map(users, .name)", '{users = {{name = "a"}, {name = "b"}}}', ["a", "b"]),
    ("user?.address?.city ?? 'none'", "{user = {}}", "none"),
    ("1..4 | filter(# % 2 == 0)", None, [2, 4]),
])
async def test_eval(app, src, env, want):
    call = f"expr.eval({src!r})" if env is None else f"expr.eval({src!r}, {env})"
    assert await run(app, f"local v, err = {call}; assert(err == nil, tostring(err)); return v") == want


async def test_integers_stay_integers(app):
    assert await run(app, "return {math.type(expr.eval('1 + 2')), math.type(expr.eval('7 / 2'))}") == \
        ["integer", "float"]


async def test_compile_and_run(app):
    res = await run(app, """
    local calc, err = expr.compile("price * (1 - discount_rate)")
    assert(err == nil)
    local validator = expr.compile("len(password) >= 8 and len(password) <= 128")
    local pricer = expr.compile([[
        base_price * quantity * (1 - bulk_discount) + shipping
    ]])
    return {calc:run({price = 100, discount_rate = 0.1}), calc:run({price = 50, discount_rate = 0.2}),
            validator:run({password = "short"}), validator:run({password = "securepass123"}),
            pricer:run({base_price = 25.00, quantity = 10, bulk_discount = 0.15, shipping = 12.50})}
    """)
    assert res == [pytest.approx(90), pytest.approx(40), False, True, pytest.approx(225.0)]


async def test_compile_env_is_checked(app):
    res = await run(app, """
    local ok = expr.compile("a + b", {a = 1, b = 2})
    local bad, err = expr.compile("a + c", {a = 1, b = 2})
    return {ok ~= nil, bad == nil, err:kind(), err:message()}
    """)
    assert res[:3] == [True, True, "Internal"] and "c" in res[3]


@pytest.mark.parametrize("call, kind", [
    ('expr.eval("")', "Invalid"),
    ('expr.eval("   ")', "Invalid"),
    ('expr.compile("")', "Invalid"),
    ('expr.eval(42)', "Invalid"),
    ('expr.eval("1 +")', "Internal"),
    ('expr.compile("(1 + 2")', "Internal"),
    ('expr.eval("1 % 0")', "Internal"),
    ('expr.eval("a.b", {a = 1})', "Internal"),
    ('expr.eval(\'"x" + 1\')', "Internal"),
    ('expr.eval("nosuch(1)")', "Internal"),
    ('expr.eval("1..100000000")', "Internal"),
    ('expr.eval(\'repeat("x", 1000000000)\')', "Internal"),
    ('expr.eval("1", "not a table")', "Invalid"),
])
async def test_errors(app, call, kind):
    res = await run(app, f"local v, err = {call}; return {{v == nil, err and err:kind(), err and err:retryable() or false}}")
    assert res[0] is True and res[1] == kind and not res[2]


async def test_program_run_error(app):
    res = await run(app, """
    local p = expr.compile("a / b")
    local v, err = p:run({a = 1, b = "x"})
    return {v == nil, err:kind()}
    """)
    assert res == [True, "Internal"]


async def test_program_is_read_only(app):
    res = await run(app, """
    local p = expr.compile("1")
    local ok = pcall(function() p.run = function() return 2 end end)
    return {ok, p:run(), getmetatable(p)}
    """)
    assert res == [False, 1, False]


async def test_cache_reuses_parse(app):
    # same source, different environments: results follow the environment
    assert await run(app, """
    local out = {}
    for i = 1, 50 do out[i] = expr.eval("n * 2", {n = i}) end
    return out[50]
    """) == 100
