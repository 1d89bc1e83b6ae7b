"""channel module and coroutines (reference §2.4)."""
import pytest

from wippy.engine.errors import WippyError


async def test_unbuffered_send_blocks_until_received(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local ch = channel.new()
      local log = {}
      coroutine.spawn(function() ch:send("a"); log[#log + 1] = "sent" end)
      time.sleep("2ms")              -- the sender runs and blocks: nobody receives yet
      log[#log + 1] = "before"
      log[#log + 1] = ch:receive()
      return log
    end""", modules=["time"])
    assert r == ["before", "a"]


async def test_buffered_send_does_not_block(app):
    assert await app.run("""
    function main()
      local ch = channel.new(3)
      ch:send(1); ch:send(2); ch:send(3)
      return {ch:receive(), ch:receive(), (ch:receive())}
    end""") == [1, 2, 3]


async def test_close_then_drain(app):
    r = await app.run("""
    function main()
      local ch = channel.new(2)
      ch:send("x"); ch:send("y")
      ch:close()
      local a, ok1 = ch:receive()
      local b, ok2 = ch:receive()
      local c, ok3 = ch:receive()
      return {a, ok1, b, ok2, c == nil, ok3}
    end""")
    assert r == ["x", True, "y", True, True, False]


async def test_send_on_closed_channel_raises(app):
    with pytest.raises(WippyError, match="closed channel"):
        await app.run("function main() local ch = channel.new(1); ch:close(); ch:send(1) end")


async def test_close_wakes_blocked_receiver(app):
    r = await app.run("""
    function main()
      local ch = channel.new()
      local done = channel.new(1)
      coroutine.spawn(function() local v, ok = ch:receive(); done:send(ok) end)
      ch:close()
      return done:receive()
    end""")
    assert r is False


async def test_select_default_when_nothing_ready(app):
    r = await app.run("""
    function main()
      local ch = channel.new()
      local r = channel.select({ch:case_receive(), default = true})
      return {r.default, r.ok}
    end""")
    assert r == [True, True]


async def test_select_picks_ready_case(app):
    r = await app.run("""
    function main()
      local a, b = channel.new(1), channel.new(1)
      b:send("from b")
      local r = channel.select({a:case_receive(), b:case_receive()})
      return {r.channel == b, r.value, r.ok}
    end""")
    assert r == [True, "from b", True]


async def test_select_blocks_until_a_case_fires(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local a, b = channel.new(), channel.new()
      coroutine.spawn(function() time.sleep("5ms"); a:send(42) end)
      local r = channel.select({b:case_receive(), a:case_receive()})
      return {r.channel == a, r.value}
    end""", modules=["time"])
    assert r == [True, 42]


async def test_select_send_case(app):
    r = await app.run("""
    function main()
      local ch = channel.new(1)
      local r = channel.select({ch:case_send("v")})
      return {r.channel == ch, (ch:receive())}
    end""")
    assert r == [True, "v"]


async def test_select_on_closed_channel_reports_not_ok(app):
    r = await app.run("""
    function main()
      local ch = channel.new()
      ch:close()
      local r = channel.select({ch:case_receive()})
      return {r.ok, r.value == nil}
    end""")
    assert r == [False, True]


async def test_user_coroutines_work_across_scheduler_yields(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local gen = coroutine.wrap(function()
        for i = 1, 3 do
          time.sleep("1ms")          -- parks the whole task, then resumes inside the generator
          coroutine.yield(i * 10)
        end
      end)
      return {gen(), gen(), gen()}
    end""", modules=["time"])
    assert r == [10, 20, 30]
