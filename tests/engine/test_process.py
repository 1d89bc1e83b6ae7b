"""Process semantics (reference §2.2): spawn, messages, monitors, links, cancel, names."""
import pytest

from wippy.engine.errors import WippyError

CHILD_OK = """
function main(v) return v * 2 end
"""
CHILD_FAIL = """
function main() error("boom") end
"""
CHILD_WAIT = """
function main()
  local ev = process.events():receive()
  return ev.reason
end
"""


async def test_process_returns_value(app):
    assert await app.run("function main(a, b) return a + b end", 2, 3) == 5


async def test_error_names_entry_and_line(app):
    with pytest.raises(WippyError) as e:
        await app.run("function main()\n  local x = nil\n  return x.y\nend")
    assert "app:main:3:" in str(e.value)


async def test_monitor_gets_exit_with_value(app):
    app.process("app:child", CHILD_OK)
    r = await app.run("""
    function main()
      local pid = process.spawn_monitored("app:child", "app:host", 21)
      local ev = process.events():receive()
      return {kind = ev.kind, from_ok = ev.from == pid, value = ev.result.value, err = ev.result.error}
    end""")
    assert r == {"kind": "pid.exit", "from_ok": True, "value": 42}


async def test_monitor_gets_exit_with_error(app):
    app.process("app:child", CHILD_FAIL)
    r = await app.run("""
    function main()
      process.spawn_monitored("app:child", "app:host")
      local ev = process.events():receive()
      return {kind = ev.kind, msg = tostring(ev.result.error), ekind = ev.result.error:kind()}
    end""")
    assert r["kind"] == "pid.exit"
    assert "boom" in r["msg"] and "app:child:2" in r["msg"]
    assert r["ekind"] == "Internal"


async def test_returned_error_is_an_error_exit(app):
    app.process("app:child", 'function main() return nil, errors.new({kind = errors.NOT_FOUND, message = "nope"}) end')
    r = await app.run("""
    function main()
      process.spawn_monitored("app:child", "app:host")
      local ev = process.events():receive()
      return {ekind = ev.result.error:kind(), msg = ev.result.error:message()}
    end""")
    assert r == {"ekind": "NotFound", "msg": "nope"}


async def test_monitor_of_a_dead_process_fires_at_once(app):
    r = await app.run("""
    function main()
      process.monitor("{test@app:host|0xfffff}")
      return process.events():receive().kind
    end""")
    assert r == "pid.exit"


async def test_abnormal_exit_kills_linked_process(app):
    app.process("app:child", CHILD_FAIL)
    app.process("app:middle", """
    local time = require("time")
    function main()
      process.spawn_linked("app:child", "app:host")
      time.sleep("1s")
      return "survived"
    end""", modules=["time"])
    r = await app.run("""
    function main()
      process.spawn_monitored("app:middle", "app:host")
      local ev = process.events():receive()
      return {err = ev.result.error and ev.result.error:kind(), msg = tostring(ev.result.error)}
    end""")
    assert r["err"] == "LinkDown"
    assert "failed" in r["msg"]


async def test_normal_exit_does_not_propagate_over_link(app):
    app.process("app:child", CHILD_OK)
    r = await app.run("""
    local time = require("time")
    function main()
      process.set_options({trap_links = true})
      process.spawn_linked("app:child", "app:host", 1)
      local r = channel.select({process.events():case_receive(), time.after("50ms"):case_receive()})
      if r.channel == process.events() then return "got " .. r.value.kind end
      return "no event"
    end""", modules=["time"])
    assert r == "no event"


async def test_trap_links_turns_crash_into_link_down(app):
    app.process("app:child", CHILD_FAIL)
    r = await app.run("""
    function main()
      process.set_options({trap_links = true})
      local pid = process.spawn_linked("app:child", "app:host")
      local ev = process.events():receive()
      return {kind = ev.kind, from_ok = ev.from == pid, has_err = ev.result.error ~= nil,
              opts = process.get_options().trap_links}
    end""")
    assert r == {"kind": "pid.link.down", "from_ok": True, "has_err": True, "opts": True}


async def test_cancel_delivers_reason(app):
    app.process("app:child", CHILD_WAIT)
    r = await app.run("""
    function main()
      local pid = process.spawn_monitored("app:child", "app:host")
      process.cancel(pid, "time to go")
      local ev = process.events():receive()
      return ev.result.value
    end""")
    assert r == "time to go"


async def test_terminate_is_abnormal(app):
    app.process("app:child", CHILD_WAIT)
    r = await app.run("""
    function main()
      local pid = process.spawn_monitored("app:child", "app:host")
      process.terminate(pid)
      return process.events():receive().result.error:kind()
    end""")
    assert r == "Terminated"


async def test_unlistened_topic_falls_back_to_inbox(app):
    r = await app.run("""
    function main()
      local me = process.pid()
      local ch = process.listen("jobs")
      process.send(me, "other", "to inbox")
      process.send(me, "jobs", "to listener")
      local listened = ch:receive()
      local msg = process.inbox():receive()
      return {listened = listened, inbox_topic = msg:topic(), inbox = msg:payload():data()}
    end""")
    assert r == {"listened": "to listener", "inbox_topic": "other", "inbox": "to inbox"}


async def test_listen_with_message_objects_and_unlisten(app):
    r = await app.run("""
    function main()
      local me = process.pid()
      local ch = process.listen("t", {message = true})
      process.send(me, "t", 7)
      local m = ch:receive()
      process.unlisten(ch)
      process.send(me, "t", 8)
      local back = process.inbox():receive()
      return {m:topic(), m:payload():data(), m:from() == me, back:payload():data()}
    end""")
    assert r == ["t", 7, True, 8]


async def test_reserved_topics_are_refused(app):
    r = await app.run("""
    function main()
      local ok, err = process.send(process.pid(), "@inbox", 1)
      return {ok = ok, kind = err:kind()}
    end""")
    assert r == {"kind": "Invalid"}


async def test_send_order_is_fifo_per_sender(app):
    app.process("app:child", """
    function main(parent)
      for i = 1, 100 do process.send(parent, "n", i) end
    end""")
    r = await app.run("""
    function main()
      process.spawn("app:child", "app:host", process.pid())
      local got = {}
      for i = 1, 100 do got[i] = process.inbox():receive():payload():data() end
      return got
    end""")
    assert r == list(range(1, 101))


async def test_messages_are_copies(app):
    app.process("app:child", """
    function main(parent)
      local msg = process.inbox():receive()
      local t = msg:payload():data()
      t.x = 99
      process.send(parent, "done", t.x)
    end""")
    r = await app.run("""
    function main()
      local pid = process.spawn("app:child", "app:host", process.pid())
      local t = {x = 1}
      process.send(pid, "t", t)
      process.inbox():receive()
      return t.x
    end""")
    assert r == 1


async def test_sending_a_function_is_an_error(app):
    r = await app.run("""
    function main()
      local ok, err = process.send(process.pid(), "t", {f = function() end})
      return err:kind()
    end""")
    assert r == "Invalid"


async def test_exec_waits_for_result(app):
    app.process("app:child", CHILD_OK)
    assert await app.run('function main() return process.exec("app:child", "app:host", 5) end') == 10


async def test_exec_returns_error(app):
    app.process("app:child", CHILD_FAIL)
    r = await app.run("""
    function main()
      local v, err = process.exec("app:child", "app:host")
      return {v = v, msg = tostring(err)}
    end""")
    assert "boom" in r["msg"] and "v" not in r


async def test_spawn_unknown_entry_fails_cleanly(app):
    r = await app.run("""
    function main()
      local pid, err = process.spawn("app:nope", "app:host")
      return {pid = pid, kind = err:kind()}
    end""")
    assert r == {"kind": "NotFound"}


async def test_names_register_lookup_and_release_on_exit(app):
    app.process("app:child", """
    function main(parent)
      assert(process.registry.register("svc"))
      process.send(parent, "ready", true)
      process.inbox():receive()
    end""")
    r = await app.run("""
    function main()
      local pid = process.spawn_monitored("app:child", "app:host", process.pid())
      process.inbox():receive()
      local found = process.registry.lookup("svc") == pid
      local ok, err = process.registry.register("svc")
      local dup = err and err:kind()
      process.send("svc", "stop", true)        -- send by name
      process.events():receive()
      local _, gone = process.registry.lookup("svc")
      return {found = found, dup = dup, gone = gone:kind()}
    end""")
    assert r == {"found": True, "dup": "AlreadyExists", "gone": "NotFound"}


async def test_context_reaches_grandchildren(app):
    app.function("app:leaf", 'local ctx = require("ctx")\nfunction main() return ctx.get("trace") end', modules=["ctx"])
    app.process("app:child", """
    local funcs = require("funcs")
    function main(parent)
      process.send(parent, "r", funcs.call("app:leaf"))
    end""", modules=["funcs"])
    r = await app.run("""
    function main()
      process.with_context({trace = "t-123"}):spawn("app:child", "app:host", process.pid())
      return process.inbox():receive():payload():data()
    end""")
    assert r == "t-123"


async def test_spawned_process_starts_with_fresh_context(app):
    app.process("app:child", """
    local ctx = require("ctx")
    function main(parent)
      local v, err = ctx.get("trace")
      process.send(parent, "r", err and err:kind() or v)
    end""", modules=["ctx"])
    r = await app.run("""
    function main()
      process.with_context({trace = "x"}):spawn("app:child", "app:host", process.pid())
      local first = process.inbox():receive():payload():data()
      process.spawn("app:child", "app:host", process.pid())
      return {first, process.inbox():receive():payload():data()}
    end""")
    assert r == ["x", "NotFound"]


async def test_with_message_is_queued_before_start(app):
    app.process("app:child", """
    function main(parent)
      local m = process.inbox():receive()
      process.send(parent, "echo", m:topic() .. ":" .. m:payload():data())
    end""")
    r = await app.run("""
    function main()
      process.with_options({}):with_message("hello", "first"):spawn("app:child", "app:host", process.pid())
      return process.inbox():receive():payload():data()
    end""")
    assert r == "hello:first"


async def test_upgrade_keeps_pid_and_mailbox(app):
    app.process("app:v2", """
    function main(state)
      local m = process.inbox():receive()
      process.send(m:from(), "r", {state = state, pid = process.pid(), got = m:payload():data()})
    end""")
    app.process("app:v1", """
    function main()
      local m = process.inbox():receive()
      process.upgrade("app:v2", m:payload():data() + 1)
    end""")
    r = await app.run("""
    function main()
      local pid = process.spawn("app:v1", "app:host")
      process.send(pid, "go", 41)
      process.send(pid, "again", "queued")
      local r = process.inbox():receive():payload():data()
      return {state = r.state, same = r.pid == pid, got = r.got}
    end""")
    assert r == {"state": 42, "same": True, "got": "queued"}


async def test_coroutine_spawn_runs_concurrently(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local ch = channel.new()
      coroutine.spawn(function() time.sleep("5ms"); ch:send("from child") end)
      return ch:receive()
    end""", modules=["time"])
    assert r == "from child"


async def test_crash_in_spawned_coroutine_fails_the_process(app):
    with pytest.raises(WippyError, match="inner"):
        await app.run("""
        local time = require("time")
        function main()
          coroutine.spawn(function() error("inner") end)
          time.sleep("50ms")
          return "not reached"
        end""", modules=["time"])


async def test_one_process_error_leaves_others_running(app):
    app.process("app:bad", CHILD_FAIL)
    app.process("app:good", CHILD_WAIT)
    r = await app.run("""
    function main()
      local good = process.spawn_monitored("app:good", "app:host")
      for i = 1, 5 do process.spawn("app:bad", "app:host") end
      process.cancel(good, "still alive")
      return process.events():receive().result.value
    end""")
    assert r == "still alive"
