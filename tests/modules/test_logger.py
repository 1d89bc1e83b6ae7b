"""logger module (lua/system/logger.md): colon calls with fields, levels, `with`, `named`."""
from __future__ import annotations

import logging

import pytest


def lua_records(caplog):
    return [(r.name, r.levelname, r.getMessage(), r.fields) for r in caplog.records if r.name.startswith("wippy.lua")]


async def run(app, body: str):
    return await app.run("local logger = require('logger')\nreturn function()\n" + body + "\nend", modules=["logger"])


@pytest.mark.parametrize("level, py_level", [("debug", "DEBUG"), ("info", "INFO"), ("warn", "WARNING"),
                                             ("error", "ERROR")])
async def test_levels_with_colon_call(app, caplog, level, py_level):
    caplog.set_level(logging.DEBUG, logger="wippy.lua")
    await run(app, f'logger:{level}("message", {{key = "value", n = 3}})')
    assert lua_records(caplog) == [("wippy.lua", py_level, "message", {"key": "value", "n": 3})]


async def test_dot_call_and_no_fields(app, caplog):
    caplog.set_level(logging.DEBUG, logger="wippy.lua")
    await run(app, 'logger.info("dot call", {a = 1}); logger:info("bare")')
    assert lua_records(caplog) == [("wippy.lua", "INFO", "dot call", {"a": 1}), ("wippy.lua", "INFO", "bare", {})]


async def test_with_adds_fields_to_every_line(app, caplog):
    caplog.set_level(logging.DEBUG, logger="wippy.lua")
    await run(app, """
    local child = logger:with({request_id = "r-1"})
    child:info("first")
    child:with({user = "ann"}):warn("second", {extra = true})
    logger:info("root untouched")
    """)
    assert lua_records(caplog) == [
        ("wippy.lua", "INFO", "first", {"request_id": "r-1"}),
        ("wippy.lua", "WARNING", "second", {"request_id": "r-1", "user": "ann", "extra": True}),
        ("wippy.lua", "INFO", "root untouched", {}),
    ]


async def test_named_loggers(app, caplog):
    caplog.set_level(logging.DEBUG, logger="wippy.lua")
    await run(app, """
    local auth = logger:named("auth")
    auth:info("login")
    auth:named("token"):with({id = 7}):error("bad")
    """)
    assert lua_records(caplog) == [("wippy.lua.auth", "INFO", "login", {}),
                                   ("wippy.lua.auth.token", "ERROR", "bad", {"id": 7})]


async def test_errors(app):
    res = await run(app, """
    local l1, e1 = logger:named("")
    local l2, e2 = logger:with("not a table")
    return {l1 == nil, e1:kind(), e1:retryable(), l2 == nil, e2:kind()}
    """)
    assert res == [True, "Invalid", False, True, "Invalid"]


async def test_loggers_are_shared_read_only(app):
    res = await run(app, """
    local ok1, err1 = pcall(function() logger.info = function() end end)
    local ok2 = pcall(rawset, logger, "x", 1)
    local ok3 = pcall(setmetatable, logger, {})
    return {ok1, ok2, ok3, getmetatable(logger)}
    """)
    assert res == [False, False, False, False]
