"""Limits at the engine: max_instructions counts per slice, and a process's timers and tickers
end with it."""
from __future__ import annotations

import asyncio

import pytest

from tests.engine.conftest import HOST, app, make_app  # noqa: F401 - fixtures
from wippy.engine.errors import WippyError


async def test_max_instructions_is_per_slice(make_app):
    app = make_app(max_instructions=200_000)
    app.process("app:many_short", """
    local time = require("time")
    function main()
      local s = 0
      for round = 1, 20 do
        for i = 1, 20000 do s = s + i end      -- well under the budget per slice
        time.sleep("1ms")
      end
      return s
    end""", modules=["time"])
    assert await app.node.exec("app:many_short", HOST, []) == 20 * sum(range(1, 20001))
    app.process("app:one_long", "function main() local s = 0 for i = 1, 1e7 do s = s + i end return s end")
    with pytest.raises(WippyError, match=r"instruction budget of host app:host \(max_instructions: 200000\) per slice"):
        await app.node.exec("app:one_long", HOST, [])


async def test_timers_and_tickers_die_with_their_process(app):
    app.process("app:timed", """
    local time = require("time")
    function main()
      for i = 1, 50 do time.after("1h") end
      local tk = time.ticker("5ms")
      local tm = time.timer("1h")
      coroutine.spawn(function() time.sleep("1h") end)
      process.inbox():receive()
    end""", modules=["time"])
    pid = app.node.spawn("app:timed", HOST, [])
    for _ in range(100):
        if app.engine.S.pending_timers(pid) >= 52:
            break
        await asyncio.sleep(0.01)
    assert app.engine.S.pending_timers(pid) >= 52
    app.node.terminate(pid)
    await asyncio.sleep(0.05)
    assert app.engine.S.pending_timers(pid) == 0
    assert app.engine.S.pending_timers() == 0


async def test_code_cannot_widen_its_own_actor_or_scope(app):
    app.process("app:escalate", """
    local security = require("security")
    function main()
      local sc, a = security.scope(), security.actor()
      sc._ids[#sc._ids + 1] = "app:admin"
      a._id = "root"
      return {security.scope():contains("app:admin"), security.actor():id(), #security.scope():policies()}
    end""", modules=["security"])
    r = await app.node.exec("app:escalate", HOST, [], options={"actor": {"id": "ann"}, "scope": ["app:reader"]})
    assert r == [False, "ann", 1]
