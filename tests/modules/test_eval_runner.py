"""eval_runner module (lua/dynamic/eval.md): run, modules and classes, imports (plain and
privileged), custom modules, context, compile, errors."""
from __future__ import annotations

import pytest


async def run(app, body: str, *args):
    return await app.run("local runner = require('eval_runner')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["eval_runner"])


async def test_method_and_args(app):
    assert await run(app, """
    local result, err = runner.run({
        source = [[
            local function double(x)
                return x * 2
            end
            return { double = double }
        ]],
        method = "double",
        args = {21}
    })
    assert(err == nil, tostring(err))
    return result
    """) == 42


async def test_modules_allowlist(app):
    res = await run(app, """
    local ok = runner.run({source = [[
        local json = require("json")
        return json.encode({hello = "world"})
    ]], modules = {"json"}})
    local _, e1 = runner.run({source = [[ return require("json") ]]})
    local _, e2 = runner.run({source = "return 1", modules = {"http_client"}})
    local v3 = runner.run({source = "return type(require('http_client').get)", modules = {"http_client"}, allow_classes = {"network"}})
    local _, e4 = runner.run({source = "return 1", modules = {"nosuch"}})
    local v5 = runner.run({source = "return require('time') ~= nil and require('uuid') ~= nil", modules = {"time", "uuid"}})
    return {ok, e1:kind(), e1:message(), e2:kind(), v3, e4:kind(), v5}
    """)
    assert res[0] == '{"hello":"world"}'
    assert res[1] == "Internal" and "not available" in res[2]
    assert res[3:] == ["PermissionDenied", "function", "Invalid", True]


async def test_imports(app):
    app.add("app.lib:utilities", "library.lua", """
        local M = {}
        function M.format(d) return "key=" .. d.key end
        return M""", method=None)
    app.add("app.lib:pricing", "library.lua", """
        local M = {}
        function M.quote(x) return type(require("funcs").call) .. ":" .. x end
        return M""", method=None)
    res = await run(app, """
    local a = runner.run({
        source = [[
            local data = ...
            local utils = require("utils")
            return utils.format(data)
        ]],
        imports = {utils = "app.lib:utilities"},
        args = {{key = "value"}}
    })
    local b = runner.run({
        source = [[
            local pricing = require("pricing")
            local ok = pcall(require, "funcs")
            return {pricing.quote(...), ok}
        ]],
        modules = {"json"},
        imports = {pricing = {id = "app.lib:pricing", modules = {"funcs"}}},
        args = {"7"},
    })
    local _, e = runner.run({source = "return 1", imports = {x = "app.lib:nosuch"}})
    return {a, b, e:kind()}
    """)
    assert res == ["key=value", ["function:7", False], "NotFound"]


async def test_custom_modules_and_context(app):
    res = await run(app, """
    local v = runner.run({source = [[ return sdk.version .. require("sdk").api_key ]],
        custom_modules = {sdk = {version = "1.0.0", api_key = "xxx"}}})
    local g = runner.run({source = [[ return "Hello, " .. ctx.get("user") ]], context = {user = "Alice"}})
    return {v, g}
    """)
    assert res == ["1.0.0xxx", "Hello, Alice"]


async def test_compile(app):
    res = await run(app, """
    local program, err = runner.compile([[
        local function process(x)
            return x * 2
        end
        return { process = process }
    ]], "process", {modules = {"json"}})
    assert(err == nil)
    local _, e1 = runner.compile("return (", "x")
    local _, e2 = runner.compile("return 1", nil, {modules = {"fs"}})
    return {program:method(), program:modules(), e1:kind(), e2:kind()}
    """)
    assert res == ["process", ["json"], "Internal", "PermissionDenied"]


@pytest.mark.parametrize("opts, kind", [
    ("{}", "Invalid"),
    ('{source = "return ("}', "Internal"),
    ('{source = "error(\\"boom\\")"}', "Internal"),
    ('{source = "return {}", method = "nope"}', "Internal"),
    ('{source = "return 1", modules = "json"}', "Invalid"),
    ('{source = "return 1", bogus = 1}', "Invalid"),
    ('{source = "return nil, errors.new({kind = errors.NOT_FOUND, message = \\"x\\"})"}', "NotFound"),
])
async def test_errors(app, opts, kind):
    assert await run(app, f"local v, err = runner.run({opts}); return {{v == nil, err:kind()}}") == [True, kind]


async def test_permissions(make_app):
    app = make_app()
    app.engine.S.strict = True
    assert await run(app, 'local _, err = runner.run({source = "return 1"}); return {err:kind(), err:message()}') == \
        ["PermissionDenied", "permission denied: eval.compile on source"]


async def test_sandbox_is_fresh(app):
    assert await run(app, """
    runner.run({source = "leaked = 1"})
    local v = runner.run({source = "return leaked"})
    return {v == nil, leaked == nil}
    """) == [True, True]
