"""errors global (reference §2.3) and the scheduling half of the time module (§2.6)."""
import asyncio

import pytest

from wippy.engine.errors import WippyError


async def test_error_kind_constants(app):
    r = await app.run("""
    function main()
      return {errors.UNKNOWN, errors.NOT_FOUND, errors.ALREADY_EXISTS, errors.INVALID, errors.PERMISSION_DENIED,
              errors.UNAVAILABLE, errors.INTERNAL, errors.CANCELED, errors.CONFLICT, errors.TIMEOUT,
              errors.RATE_LIMITED}
    end""")
    assert r == ["", "NotFound", "AlreadyExists", "Invalid", "PermissionDenied", "Unavailable", "Internal",
                 "Canceled", "Conflict", "Timeout", "RateLimited"]


async def test_error_object_methods_and_wrap(app):
    r = await app.run("""
    function main()
      local e = errors.new({message = "db down", kind = errors.UNAVAILABLE, retryable = true, details = {host = "h"}})
      local w = errors.wrap(e, "loading user")
      local plain = errors.new("just text")
      return {
        e:kind(), e:message(), e:retryable(), e:details().host, tostring(e),
        w:kind(), w:message(), w:retryable(), errors.is(w, errors.UNAVAILABLE), errors.is(w, errors.INVALID),
        plain:kind(), plain:message(), errors.is("not an error", errors.INVALID),
      }
    end""")
    assert r == ["Unavailable", "db down", True, "h", "db down",
                 "Unavailable", "loading user: db down", True, True, False,
                 "", "just text", False]


async def test_call_stack_of_a_raised_error(app):
    app.process("app:child", "function inner() error(errors.new('deep')) end\nfunction main() inner() end")
    r = await app.run("""
    function main()
      process.spawn_monitored("app:child", "app:host")
      local err = process.events():receive().result.error
      local cs = errors.call_stack(err)
      return {#cs.frames > 0, cs.frames[1].source}
    end""")
    assert r == [True, "app:child"]


async def test_error_raised_with_an_error_object_keeps_kind(app):
    with pytest.raises(WippyError) as e:
        await app.run("function main() error(errors.new({kind = errors.CONFLICT, message = 'stale'})) end")
    assert e.value.kind == "Conflict" and e.value.message == "stale"


@pytest.mark.parametrize("flag, expected", [("true", True), ("false", False), ("nil", None)])
async def test_error_leaving_lua_keeps_retryable(app, flag, expected):
    # what Python callers (queue consumers, Temporal activities/workflows) see; false is not "unknown"
    with pytest.raises(WippyError) as e:
        await app.run(f"function main() error(errors.new({{kind = errors.INVALID, message = 'no', retryable = {flag}}})) end")
    assert (e.value.kind, e.value.message, e.value.retryable) == ("Invalid", "no", expected)


async def test_sleep_parks_only_the_caller(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local order = {}
      coroutine.spawn(function() time.sleep("20ms"); order[#order + 1] = "slow" end)
      coroutine.spawn(function() time.sleep("1ms"); order[#order + 1] = "fast" end)
      time.sleep("40ms")
      return order
    end""", modules=["time"])
    assert r == ["fast", "slow"]


async def test_a_sleep_that_ends_during_another_timers_pass_still_wakes(make_app):
    # The hog's timer starts a scheduler pass; the sleeper's comes due during the hog's one long
    # C call and is fired at the end of that pass, with no timer left to start another one: the
    # sleeper must run anyway (a watcher on the node of an exiting process stalled this way).
    app = make_app(max_memory=256 << 20)
    app.process("app:sleeper", """
    local time = require("time")
    function main(parent)
      time.sleep("30ms")
      process.send(parent, "woke", true)
    end""", modules=["time"])
    app.process("app:hog", """
    local time = require("time")
    function main()
      time.sleep("1ms")
      return #string.rep("ab", 20000000)   -- tens of ms in one C call, no yield point inside
    end""", modules=["time"])
    r = await asyncio.wait_for(app.run("""
    function main()
      process.spawn("app:sleeper", "app:host", process.pid())
      process.spawn("app:hog", "app:host")
      return process.inbox():receive():topic()
    end"""), 10)
    assert r == "woke"


async def test_duration_forms(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local d = time.parse_duration("1h30m")
      local bad, err = time.parse_duration("soon")
      return {d:minutes(), d:nanoseconds() == 90 * time.MINUTE, time.parse_duration(1500):microseconds(),
              bad == nil, err:kind(), tostring(time.parse_duration("1.5s"))}
    end""", modules=["time"])
    assert r == [90.0, True, 1, True, "Invalid", "1.5s"]


async def test_after_timer_and_ticker(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local got = {}
      local t0 = time.now()
      local v = time.after("5ms"):receive()
      got.after_is_time = v:unix_nano() >= t0:unix_nano()

      local tm = time.timer("1h")
      got.stopped = tm:stop()
      got.stop_again = tm:stop()
      tm:reset("2ms")
      tm:response():receive()
      got.reset_fired = true

      local tk = time.ticker("2ms")
      local ticks = 0
      for i = 1, 3 do tk:channel():receive(); ticks = ticks + 1 end
      tk:stop()
      local r = channel.select({tk:channel():case_receive(), time.after("20ms"):case_receive()})
      got.ticks = ticks
      got.no_tick_after_stop = r.channel ~= tk:channel()
      local _, err = time.after(0)
      got.zero_refused = err:kind()
      return got
    end""", modules=["time"])
    assert r == {"after_is_time": True, "stopped": True, "stop_again": False, "reset_fired": True, "ticks": 3,
                 "no_tick_after_stop": True, "zero_refused": "Invalid"}


async def test_select_with_timeout(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local never = channel.new()
      local r = channel.select({never:case_receive(), time.after("5ms"):case_receive()})
      return r.channel ~= never
    end""", modules=["time"])
    assert r is True
