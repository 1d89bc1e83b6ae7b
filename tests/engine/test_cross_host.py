"""Processes on different hosts (separate Lua states) behave as on one: spawn, messages,
monitors, links, exec and names cross the boundary."""
import pytest

from tests.engine.conftest import LuaApp
from wippy.engine.engine import Engine

OTHER = "app:other"


@pytest.fixture
async def two():
    app = LuaApp()
    app.node.add_host(OTHER, Engine(app.node, OTHER))
    return app


async def test_spawn_and_messages_across_hosts(two):
    two.process("app:echo", """
    function main()
      local m = process.inbox():receive()
      process.send(m:from(), "echo", {got = m:payload():data(), host = process.pid():match("@(.-)|")})
    end""")
    r = await two.run("""
    function main()
      local pid = process.spawn("app:echo", "app:other")
      process.send(pid, "hi", {n = 1, list = {1, 2, 3}})
      return process.inbox():receive():payload():data()
    end""")
    assert r == {"got": {"n": 1, "list": [1, 2, 3]}, "host": OTHER}


async def test_monitor_and_exec_across_hosts(two):
    two.process("app:fail", 'function main() error("remote boom") end')
    two.process("app:ok", "function main(x) return x + 1 end")
    r = await two.run("""
    function main()
      process.spawn_monitored("app:fail", "app:other")
      local ev = process.events():receive()
      local v = process.exec("app:ok", "app:other", 41)
      return {ev.kind, tostring(ev.result.error):find("remote boom") ~= nil, v}
    end""")
    assert r == ["pid.exit", True, 42]


async def test_link_across_hosts_with_trap(two):
    two.process("app:fail", """
    local time = require("time")
    function main() time.sleep("5ms"); error("remote crash") end""", modules=["time"])
    r = await two.run("""
    function main()
      process.set_options({trap_links = true})
      local pid = process.spawn_linked("app:fail", "app:other")
      local ev = process.events():receive()
      return {ev.kind, ev.from == pid}
    end""")
    assert r == ["pid.link.down", True]


async def test_names_are_node_wide(two):
    two.process("app:named", """
    function main(parent)
      process.registry.register("remote-svc")
      process.send(parent, "ready", true)
      local m = process.inbox():receive()
      process.send(m:from(), "answer", m:payload():data() * 2)
    end""")
    r = await two.run("""
    function main()
      process.spawn("app:named", "app:other", process.pid())
      process.inbox():receive()
      process.send("remote-svc", "q", 21)
      return process.inbox():receive():payload():data()
    end""")
    assert r == 42


async def test_cancel_across_hosts(two):
    two.process("app:waiter", "function main() return process.events():receive().reason end")
    r = await two.run("""
    function main()
      local pid = process.spawn_monitored("app:waiter", "app:other")
      process.cancel(pid, "bye")
      return process.events():receive().result.value
    end""")
    assert r == "bye"


async def test_result_that_cannot_cross_still_ends_the_wait(two):
    two.process("app:binary", 'function main() return "\\255\\254 not utf-8" end')
    r = await two.run("""
    function main()
      local v, err = process.exec("app:binary", "app:other")
      return {v == nil, err ~= nil and err:kind()}
    end""")
    assert r == [True, "Internal"]
