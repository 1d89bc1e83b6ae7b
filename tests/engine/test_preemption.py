"""Preemption of pure Lua: the front end compiles yield points into every entry's code (loop
bodies, function entries, backward gotos), so a process busy in plain Lua is rescheduled behind
its neighbours instead of holding the host for a whole slice; its budgets still end it."""
from __future__ import annotations

import asyncio
import json

import pytest

from tests.engine.conftest import HOST, app, make_app  # noqa: F401 - fixtures
from wippy import lang
from wippy.engine.errors import WippyError

ECHO = """
function main()
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    process.send(m:from(), "pong", m:payload():data())
  end
end"""

# Ping-pongs with the echo process until told `done`: how many round trips it made and the most
# CPU time of the node (os.clock) one of them waited, which on an idle machine is its latency.
PINGER = """
function main(echo)
  local inbox, n, worst = process.inbox(), 0, 0
  while true do
    local t0 = os.clock()
    process.send(echo, "ping", n)
    local m = inbox:receive()
    if m:topic() == "done" then return {n = n, worst = worst} end
    worst = math.max(worst, os.clock() - t0)
    n = n + 1
  end
end"""

RUN = """
function main(hog_args)
  local echo = process.spawn("app:echo", "app:host")
  local pinger = process.spawn_monitored("app:pinger", "app:host", echo)
  local hog = process.spawn_monitored("app:hog", "app:host", pinger, hog_args)
  local out = {}
  for i = 1, 2 do
    local ev = process.events():receive()
    local r = ev.result
    if ev.from == hog then process.send(pinger, "done", true) end   -- (the hog may have been ended)
    out[ev.from == hog and "hog" or "pinger"] = r.error and tostring(r.error) or r.value
  end
  process.terminate(echo)
  return out
end"""


async def neighbours(app, hog: str, hog_args=None, modules=()) -> dict:
    app.process("app:echo", ECHO)
    app.process("app:pinger", PINGER)
    app.process("app:hog", hog, modules=list(modules))
    return await app.run(RUN, hog_args)


async def test_busy_pure_lua_loop_is_rescheduled_and_neighbours_answer(app):
    # 0.4s of CPU in plain Lua (four slices' worth): before yield points it was ended at the
    # slice limit; now it finishes, and the neighbours' round trips go on meanwhile
    r = await neighbours(app, """
    local function step(x) return (x * 31 + 7) % 1000003 end
    function main(pinger)
      local t0, x, i = os.clock(), 1, 0
      while os.clock() - t0 < 0.4 do
        for k = 1, 100 do x = step(x) end
        i = i + 1
      end
      process.send(pinger, "done", true)
      return i > 0
    end""")
    assert r["hog"] is True, r
    assert r["pinger"]["n"] >= 10, r
    # the node's CPU time a round trip waited: well under one slice (100ms)
    print(f"\nneighbour round trips during 0.4s of busy Lua: {r['pinger']['n']}, "
          f"worst wait {r['pinger']['worst'] * 1000:.1f}ms of node CPU")
    assert r["pinger"]["worst"] < 0.05, r


@pytest.mark.parametrize("shape", ["recursion", "goto", "repeat", "generic_for"])
async def test_every_kind_of_loop_is_a_yield_point(app, shape):
    bodies = {
        "recursion": "local function f(n) if os.clock() - t0 > 0.3 then return n end return f(n + 1) end; n = f(0)",
        "goto": "::top:: n = n + 1; if os.clock() - t0 < 0.3 then goto top end",
        "repeat": "repeat n = n + 1 until os.clock() - t0 > 0.3",
        "generic_for": "local function it() if os.clock() - t0 < 0.3 then return 1 end end; "
                       "for _ in it do n = n + 1 end",
    }
    r = await neighbours(app, f"""
    function main(pinger)
      t0, n = os.clock(), 0
      {bodies[shape]}
      process.send(pinger, "done", true)
      return n > 0
    end""")
    assert r["hog"] is True and r["pinger"]["n"] >= 5, r


async def test_an_endless_loop_is_still_ended_by_its_busy_budget(make_app):
    app = make_app(busy_timeout=0.3)
    r = await neighbours(app, """
    function main(pinger) while true do end end""")
    assert "exceeded the busy time limit of host app:host (busy_timeout: 0.3s)" in r["hog"], r
    assert r["pinger"]["n"] >= 5, r   # and the neighbours answered meanwhile


async def test_the_yield_flag_is_out_of_reach(app):
    # the name the yield points use is refused in any source, with the entry and line
    with pytest.raises(WippyError, match=r"app:main:2: '__wy' is a reserved name"):
        await app.run("function main()\n  __wy = {f = true}\nend")
    with pytest.raises(WippyError, match=r"reserved name"):
        await app.run("function main() local __wy = 1 end")
    # a global of that name (through _ENV, _G or rawset) is just a global: the yield points do
    # not see it, and a process that plants one is preempted as usual
    r = await neighbours(app, """
    function main(pinger)
      local called = false
      local fake = {f = true, y = function() called = true end}
      _ENV["__wy"] = fake; _G.__wy = fake; rawset(_ENV, "__wy", fake)
      local t0 = os.clock()
      while os.clock() - t0 < 0.3 do end
      process.send(pinger, "done", true)
      return not called
    end""")
    assert r["hog"] is True and r["pinger"]["n"] >= 5, r


async def test_code_loaded_at_run_time_cannot_name_the_yield_points(app):
    # load's scan (yieldpoints.lua) lexes as Lua does: "\r" ends a short comment too, so the
    # name after it is seen and refused, and a loop after it gets its yield point
    r = await app.run(r"""
    function main()
      local f, err = load("-- x\r return __wy")
      return {f == nil, err}
    end""")
    assert r == [True, "the name __wy is reserved"], r
    r = await neighbours(app, r"""
    function main(pinger)
      local t0 = os.clock()
      load("-- x\r while os.clock() - ... < 0.3 do end")(t0)
      process.send(pinger, "done", true)
      return true
    end""")
    assert r["hog"] is True and r["pinger"]["n"] >= 5, r


async def test_the_yield_point_table_gives_nothing_if_reached(make_app):
    # were a source ever to reach `__wy` (simulated here: load's scan lets every source through),
    # its metatable is locked, the flag and the checkpoint are not in it, and a process that
    # keeps restoring `p` is ended at its next budget hook
    app = make_app(busy_timeout=0.3)
    app.engine.S.with_yield_points = app.engine.lua.eval("function(src) return src end")
    r = await app.run("""
    function main()
      local w = load("return __wy")()
      local ok, err = pcall(setmetatable, w, nil)
      return {set = ok, err = tostring(err), mt = getmetatable(w),
              bare = rawget(w, "f") == nil and rawget(w, "y") == nil and rawget(w, "stuck") == nil}
    end""")
    assert r == {"set": False, "err": "cannot change a protected metatable", "mt": False, "bare": True}, r
    r = await neighbours(app, """
    function main(pinger)
      local w = load("return __wy")()
      rawset(w, "p", nil)   -- every yield point takes the slow path until the checkpoint sets it
      local t0 = os.clock()
      while os.clock() - t0 < 0.2 do end
      while true do rawset(w, "p", true) end
    end""")
    assert ("exceeded the slice time limit of host app:host (slice_timeout: 0.1s); it set its yield "
            "points' field while preempted") in r["hog"], r
    assert r["pinger"]["n"] >= 5, r


async def test_front_end_output_keeps_lines_and_has_yield_points_only_for_the_engine():
    src = "local n = 0\nwhile n < 3 do\n  n = n + 1\nend\nreturn n\n"
    plain, preempt = lang.compile(src, "x"), lang.compile(src, "x", preempt=True)
    assert "__wy" not in plain
    assert preempt.count("\n") == plain.count("\n")
    assert "while n < 3 do __wy.p = true" in preempt


async def test_long_json_encode_and_decode_are_preempted_not_ended(make_app):
    # two processes encode and decode large documents at once, each over several slices (the
    # JSON encoder and decoder are Lua, with yield points in their loops): both finish, each
    # with its own correct text. The slice limit is 0.3s: single C operations on this heap (a
    # collector step after a multi-MB allocation, the concatenation of the text) run tens of ms
    # each and, on a loaded machine, added up past 0.1s (about 1 run in 8); an encoder or decoder
    # loop without yield points runs for seconds here and is still ended.
    app = make_app(slice_timeout=0.3)
    app.process("app:coder", """
    local json = require("json")
    function main(tag)
      local t0 = os.clock()
      local t = {}
      for i = 1, 100000 do t[i] = {id = i, tag = tag, v = {i, tostring(i)}} end
      local s = json.encode(t)
      local back = json.decode(s .. string.rep(" ", 3000000))   -- over the fast path's cap: Lua decodes
      return {os.clock() - t0, back[100000].tag, back[99999].v[2], s:sub(1, 30)}
    end""", modules=["json"])
    r = await app.run("""
    function main()
      local a = process.spawn_monitored("app:coder", "app:host", "a")
      local b = process.spawn_monitored("app:coder", "app:host", "b")
      local out = {}
      for i = 1, 2 do
        local ev = process.events():receive()
        out[ev.from == a and "a" or "b"] = ev.result.error and tostring(ev.result.error) or ev.result.value
      end
      return out
    end""")
    expect = json.dumps([{"id": 1, "tag": "a", "v": [1, "1"]}], separators=(",", ":"))[:30]
    assert r["a"][1:] == ["a", "99999", expect], r
    assert r["b"][1:] == ["b", "99999", expect.replace('"a"', '"b"')], r
    assert r["a"][0] > 0.3 and r["b"][0] > 0.3, r   # each ran longer than one slice


async def test_a_host_without_time_or_instruction_limits_runs_its_processes_without_a_count_hook(make_app):
    # the hook costs every Lua instruction of the process; a process Python starts is created on
    # the main thread, whose hook (there for Lua that Python runs) it would inherit
    app = make_app(slice_timeout=0, max_instructions=0)
    app.process("app:child", "function main() process.inbox():receive() end")
    app.process("app:parent", """
    function main()
      process.spawn("app:child", "app:host")
      process.inbox():receive()
    end""")
    parent = app.node.spawn("app:parent", HOST, [])
    await asyncio.sleep(0.05)
    # the hook count (a thread that inherited a hook may have no hook function of its own)
    gethook = app.engine.lua.eval("function(co) return select(3, debug.gethook(co)) end")
    hooks = [gethook(proc.main_task.co) for proc in app.engine.S.procs.values()]
    assert len(hooks) == 2 and hooks == [None, None], (parent, hooks)
    limited = make_app(slice_timeout=1)
    limited.process("app:idle", "function main() process.inbox():receive() end")
    limited.node.spawn("app:idle", HOST, [])
    await asyncio.sleep(0.05)
    gethook = limited.engine.lua.eval("function(co) return select(3, debug.gethook(co)) end")
    assert [gethook(proc.main_task.co) for proc in limited.engine.S.procs.values()] == [10000]
