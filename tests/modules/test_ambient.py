"""Globals of lua/overview.md: available without `require` and without `modules:`; the
ambient modules may also be required by name without being listed."""
from __future__ import annotations


async def test_globals_without_modules(app):
    res = await app.run("""return function()
    local names = {"process", "channel", "payload", "print", "subscribe", "unsubscribe",
                   "os", "table", "math", "string", "coroutine", "errors"}
    local out = {}
    for _, n in ipairs(names) do out[#out + 1] = type(_ENV[n]) end
    return out
    end""")
    assert res == ["table", "table", "table", "function", "function", "function",
                   "table", "table", "table", "table", "table", "table"]


async def test_require_ambient_module_unlisted(app):
    res = await app.run("""return function()
    local errs = require("errors")
    local ch = require("channel")
    return {errs == errors, ch == channel, errs.new({message = "m", kind = errs.CONFLICT}):kind()}
    end""")
    assert res == [True, True, "Conflict"]


async def test_subscribe_unsubscribe(app):
    res = await app.run("""return function()
    local sub, err = subscribe("modtest.*")
    assert(sub, tostring(err))
    local events = require("events")
    events.send("modtest.orders", "created", "/o/1", {id = 1})
    local ev = sub:channel():receive()
    local closed = unsubscribe(sub)
    local _, bad = unsubscribe("nope")
    return {ev.kind, ev.data.id, closed, bad:kind()}
    end""", modules=["events"])
    assert res == ["created", 1, True, "Invalid"]
