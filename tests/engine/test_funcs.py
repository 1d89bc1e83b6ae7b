"""funcs module (reference §2.5)."""
import pytest

from wippy.engine.errors import WippyError

ADD = "return {add = function(a, b) return a + b end}"


async def test_call_returns_value(app):
    app.function("app:add", ADD, method="add")
    assert await app.run('local funcs = require("funcs")\nfunction main() return funcs.call("app:add", 2, 40) end',
                         modules=["funcs"]) == 42


async def test_call_resolves_bare_name_in_own_namespace(app):
    app.function("app:add", ADD, method="add")
    assert await app.run('local funcs = require("funcs")\nfunction main() return funcs.call("add", 1, 1) end',
                         modules=["funcs"]) == 2


async def test_call_error_is_returned_not_raised(app):
    app.function("app:bad", 'return function() error("kaput") end', method=None)
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      local v, err = funcs.call("app:bad")
      return {v = v, msg = tostring(err), kind = err:kind()}
    end""", modules=["funcs"])
    assert "kaput" in r["msg"] and "app:bad:1" in r["msg"]
    assert r["kind"] == "Internal"


async def test_function_returning_nil_err(app):
    app.function("app:nf", 'return function() return nil, errors.new({kind = errors.NOT_FOUND, message = "gone"}) end',
                 method=None)
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      local v, err = funcs.call("app:nf")
      return {err:kind(), err:message()}
    end""", modules=["funcs"])
    assert r == ["NotFound", "gone"]


async def test_unknown_function(app):
    r = await app.run("""
    local funcs = require("funcs")
    function main() local v, err = funcs.call("app:missing"); return err:kind() end""", modules=["funcs"])
    assert r == "NotFound"


async def test_async_future(app):
    app.function("app:slow", """
    local time = require("time")
    return function(x) time.sleep("5ms"); return x * 3 end""", method=None, modules=["time"])
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      local f = funcs.async("app:slow", 7)
      local before = f:is_complete()
      local p = f:response():receive()
      local res = f:result()
      return {before, p:data(), f:is_complete(), res:data()}
    end""", modules=["funcs"])
    assert r == [False, 21, True, 21]


async def test_async_error_and_cancel(app):
    app.function("app:bad", 'return function() error("nope") end', method=None)
    app.function("app:sleepy", 'local time = require("time")\nreturn function() time.sleep("10s") end',
                 method=None, modules=["time"])
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      local f = funcs.async("app:bad")
      local _, ok = f:response():receive()
      local err, done = f:error()
      local g = funcs.async("app:sleepy")
      g:cancel()
      return {ok, done, tostring(err):find("nope") ~= nil, g:is_canceled(), g:error():kind()}
    end""", modules=["funcs"])
    assert r == [False, True, True, True, "Canceled"]


async def test_executor_context_and_timeout(app):
    app.function("app:ctx", 'local ctx = require("ctx")\nreturn function() return ctx.get("user") end',
                 method=None, modules=["ctx"])
    app.function("app:sleepy", 'local time = require("time")\nreturn function() time.sleep("1s") end',
                 method=None, modules=["time"])
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      local ex = funcs.new():with_context({user = "ann"})
      local v = ex:call("app:ctx")
      local _, err = funcs.new():with_options({timeout = "20ms"}):call("app:sleepy")
      return {v, err:kind()}
    end""", modules=["funcs"])
    assert r == ["ann", "Timeout"]


async def test_function_globals_do_not_leak_between_entries(app):
    app.function("app:setter", 'return function() shared_value = 1; return true end', method=None)
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      funcs.call("app:setter")
      return shared_value == nil
    end""", modules=["funcs"])
    assert r is True


async def test_args_are_copied(app):
    app.function("app:mut", 'return function(t) t.x = 2; return t.x end', method=None)
    r = await app.run("""
    local funcs = require("funcs")
    function main()
      local t = {x = 1}
      local got = funcs.call("app:mut", t)
      return {t.x, got}
    end""", modules=["funcs"])
    assert r == [1, 2]


async def test_call_from_python(app):
    app.function("app:add", ADD, method="add")
    assert await app.engine.call("app:add", [20, 22]) == 42
    app.function("app:bad", 'return function() error("x") end', method=None)
    with pytest.raises(WippyError):
        await app.engine.call("app:bad", [])
