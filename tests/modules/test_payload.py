"""payload global (lua/data/payload.md): formats, new, get_format, data, transcode, unmarshal."""
from __future__ import annotations

import pytest


async def run(app, body: str, *args, modules=("funcs",)):
    return await app.run("return function(...)\n" + body + "\nend", *args, modules=list(modules))


async def test_format_constants(app):
    assert await run(app, """return {payload.format.JSON, payload.format.YAML, payload.format.STRING,
        payload.format.BYTES, payload.format.MSGPACK, payload.format.LUA, payload.format.GOLANG, payload.format.ERROR}""") == \
        ["json/plain", "yaml/plain", "text/plain", "application/octet-stream", "application/msgpack",
         "lua/any", "golang/any", "golang/error"]


async def test_new_and_get_format(app):
    res = await run(app, """
    local p = payload.new({user_id = 123, name = "Alice", roles = {"admin", "user"}})
    local err_p = payload.new(errors.new("failed"))
    local nil_p = payload.new(nil)
    return {p:get_format(), payload.new("hello"):get_format(), payload.new(42.5):get_format(),
            payload.new(true):get_format(), err_p:get_format(), nil_p:data() == nil, p:data().roles[1],
            err_p:data():message()}
    """)
    assert res == ["lua/any", "lua/any", "lua/any", "lua/any", "golang/error", True, "admin", "failed"]


async def test_data(app):
    assert await run(app, """
    local p = payload.new({items = {1, 2, 3}, total = 100})
    local data, err = p:data()
    assert(err == nil)
    data.total = 5          -- a copy: the payload keeps its value
    return {p:data().total, p:data().items[1]}
    """) == [100, 1]


@pytest.mark.parametrize("fmt, want", [("JSON", "json/plain"), ("MSGPACK", "application/msgpack"),
                                       ("YAML", "yaml/plain"), ("LUA", "lua/any")])
async def test_transcode(app, fmt, want):
    res = await run(app, f"""
    local p = payload.new({{name = "test", value = 123}})
    local t, err = p:transcode(payload.format.{fmt})
    assert(err == nil, tostring(err))
    local v = t:unmarshal()
    return {{t:get_format(), v.name, v.value, t:data().value}}
    """)
    assert res == [want, "test", 123, 123]


async def test_transcode_to_text(app):
    assert await run(app, """
    local s = payload.new(42):transcode(payload.format.STRING)
    local b = payload.new("raw"):transcode(payload.format.BYTES)
    return {s:get_format(), s:data(), b:get_format(), b:data()}
    """) == ["text/plain", "42", "application/octet-stream", "raw"]


@pytest.mark.parametrize("value, fmt", [
    ("{1, nil, 3}", "JSON"),                 # a sparse array has no JSON form
    ("{a = 1}", "STRING"),
    ("{a = 1}", "BYTES"),
    ('errors.new("x")', "JSON"),
    ("{a = 1}", "GOLANG"),
])
async def test_transcode_errors(app, value, fmt):
    res = await run(app, f"""
    local t, err = payload.new({value}):transcode(payload.format.{fmt})
    return {{t == nil, err:kind()}}
    """)
    assert res == [True, "Internal"]


async def test_async_result_payload(app):
    app.function("app:compute", "function main(x) return {computed_value = x * 2} end")
    assert await run(app, """
    local funcs = require("funcs")
    local future, err = funcs.async("app:compute", 21)
    local result_payload, ok = future:response():receive()
    local result = result_payload:data()
    return {ok, result.computed_value, result_payload:get_format()}
    """) == [True, 42, "lua/any"]
