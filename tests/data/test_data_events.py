"""The events module: pattern matching, subscribe/send between processes, close, bad input,
and registry changes published on the bus."""
from __future__ import annotations

import pytest

from wippy.data.events import matches


@pytest.mark.parametrize("pattern,value,ok", [
    ("app", "app", True), ("app", "app.x", False), ("app.*", "app.x", True), ("app.*", "app.x.y", False),
    ("app.**", "app.x.y", True), ("app.**", "app", True), ("**", "anything.at.all", True),
    ("(a|b).done", "b.done", True), ("(a|b).done", "c.done", False), ("*.(created|deleted)", "user.deleted", True),
])
def test_patterns(pattern, value, ok):
    assert matches(pattern, value) is ok


async def test_subscribe_and_send(data_app):
    out = await data_app.run("""
        local events = require("events")
        local time = require("time")
        return function()
          local sub = assert(events.subscribe("tasks.*", "(done|failed)"))
          local all = assert(events.subscribe("**"))
          local ch = sub:channel()
          process.spawn("app:sender", "app:host")
          local got = {}
          for i = 1, 2 do
            local ev = ch:receive()
            got[#got + 1] = ev.system .. "/" .. ev.kind .. "/" .. ev.path .. "/" .. tostring(ev.data and ev.data.id)
          end
          -- the subscription with '**' saw all three
          local n = 0
          for i = 1, 3 do all:channel():receive(); n = n + 1 end
          sub:close()
          events.send("tasks.q", "done", "/x", {id = 9})
          local r = all:channel():receive()
          local _, bad = events.subscribe("")
          local _, bad2 = events.send("", "k")
          return {got, n, r.data.id, tostring(bad), tostring(bad2)}
        end""", modules=["events", "time"], method=None)
    assert out[0] == ["tasks.q/done/t1/1", "tasks.q/failed/t3/3"]
    assert out[1:3] == [3, 9]
    assert "invalid system pattern" in out[3]
    assert "system must be a non-empty string" in out[4]


@pytest.fixture(autouse=True)
def _sender(request):
    if "data_app" not in request.fixturenames:
        return
    app = request.getfixturevalue("data_app")
    app.process("app:sender", """
        local events = require("events")
        return function()
          events.send("tasks.q", "done", "t1", {id = 1})
          events.send("tasks.q", "started", "t2", {id = 2})
          events.send("tasks.q", "failed", "t3", {id = 3})
        end""", modules=["events"], method=None)


async def test_registry_changes_are_events(runtime):
    await runtime.put(("app:watch", "process.lua", {"source": """
        local events = require("events")
        return function()
          local sub = events.subscribe("registry", "entry.*")
          process.send(process.pid(), "ready")
          local ev = sub:channel():receive()
          return {ev.kind, ev.path, ev.data.kind}
        end""", "method": "main", "modules": ["events"]}),
        ("app:procs", "process.host", {"lifecycle": {"auto_start": True}}))
    import asyncio
    task = asyncio.create_task(runtime.node.exec("app:watch", "app:procs", []))
    await asyncio.sleep(0.1)
    await runtime.put(("app:kv", "store.memory", {}))
    assert await asyncio.wait_for(task, 5) == ["entry.create", "app:kv", "store.memory"]
