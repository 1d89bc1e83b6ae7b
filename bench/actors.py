"""Actor figures of the Lua engine, each printed beside a baseline measured in the same run.

    .venv/bin/python bench/actors.py [--quick]

- messages/s between two Lua processes (ping-pong round trips and a one-way stream),
  beside an asyncio.Queue ping-pong between two Python tasks;
- spawns/s of a short-lived process, beside bare lupa coroutine creation + resume;
- resident memory per idle process at 10k and 100k processes (each blocked on its inbox);
- funcs.call round trip from Lua, beside a bare lupa call into a Lua function.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime-image"))

from lupa import lua54  # noqa: E402

from wippy.engine.engine import Engine  # noqa: E402
from wippy.engine.node import Node  # noqa: E402

HOST = "bench:host"


class Entry:
    def __init__(self, entry_id, kind, source, method="main", modules=()):
        self.id, self.kind = entry_id, kind
        self.data = {"source": source, "method": method, "modules": list(modules)}


def rss_bytes() -> int:
    with open(f"/proc/{os.getpid()}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def lua_heap(engine: Engine) -> int:
    return int(engine.lua.eval('collectgarbage("count")') * 1024)


def make_node(entries: dict) -> tuple[Node, Engine]:
    node = Node("bench", entries.get)
    # the figures measure the fast path: the hook stays on as before (slice timeout 5 s, the long
    # funcs.call loop is one slice), and no count or size limit stops the 100k-process and
    # 400k-message runs
    engine = Engine(node, HOST, slice_timeout=5.0, max_processes=0, max_mailbox=0, max_memory=0)
    node.add_host(HOST, engine)
    return node, engine


PONG = """
function main()
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    process.send(m:from(), "pong", m:payload():data())
  end
end"""

PING = """
function main(n)
  local p = process.spawn("bench:pong", "bench:host")
  local inbox = process.inbox()
  for i = 1, n do
    process.send(p, "ping", i)
    inbox:receive()
  end
  process.terminate(p)
  return n
end"""

SINK = """
function main(parent, n)
  local inbox = process.inbox()
  for i = 1, n do inbox:receive() end
  process.send(parent, "done", n)
end"""


SOURCE = """
function main(n)
  local sink = process.spawn("bench:sink", "bench:host", process.pid(), n)
  for i = 1, n do process.send(sink, "m", i) end
  process.inbox():receive()
  return n
end"""

SPAWNER = """
function main(n)
  for i = 1, n do process.spawn("bench:short", "bench:host", i) end
  return n
end"""

IDLE = """
function main() process.inbox():receive() end"""

IDLE_SPAWNER = """
function main(n)
  for i = 1, n do process.spawn("bench:idle", "bench:host") end
  return n
end"""

CALLER = """
local funcs = require("funcs")
function main(n)
  local s = 0
  for i = 1, n do s = s + funcs.call("bench:add", i, 1) end
  return s
end"""


async def lua_ping_pong(n: int) -> float:
    entries = {"bench:pong": Entry("bench:pong", "process.lua", PONG),
               "bench:ping": Entry("bench:ping", "process.lua", PING)}
    node, _ = make_node(entries)
    t = time.perf_counter()
    await node.exec("bench:ping", HOST, [n])
    return 2 * n / (time.perf_counter() - t)


async def lua_stream(n: int) -> float:
    entries = {"bench:sink": Entry("bench:sink", "process.lua", SINK),
               "bench:src": Entry("bench:src", "process.lua", SOURCE)}
    node, _ = make_node(entries)
    t = time.perf_counter()
    await node.exec("bench:src", HOST, [n])
    return n / (time.perf_counter() - t)


async def asyncio_ping_pong(n: int) -> float:
    a, b = asyncio.Queue(), asyncio.Queue()

    async def pong():
        while True:
            v = await a.get()
            if v is None:
                return
            await b.put(v)

    task = asyncio.create_task(pong())
    t = time.perf_counter()
    for i in range(n):
        await a.put(i)
        await b.get()
    elapsed = time.perf_counter() - t
    await a.put(None)
    await task
    return 2 * n / elapsed


async def lua_spawns(n: int) -> float:
    entries = {"bench:short": Entry("bench:short", "process.lua", "function main(i) return i end"),
               "bench:spawner": Entry("bench:spawner", "process.lua", SPAWNER)}
    node, engine = make_node(entries)
    t = time.perf_counter()
    await node.exec("bench:spawner", HOST, [n])
    # count until every spawned process has run and exited (no event says so: poll)
    while engine.process_count() > 0:  # noqa: ASYNC110
        await asyncio.sleep(0)
    return n / (time.perf_counter() - t)


def bare_coroutines(n: int) -> float:
    lua = lua54.LuaRuntime()
    run = lua.eval("""function(n)
      local f = function(i) return i end
      for i = 1, n do local co = coroutine.create(f); coroutine.resume(co, i) end
    end""")
    t = time.perf_counter()
    run(n)
    return n / (time.perf_counter() - t)


async def idle_memory(n: int) -> tuple[float, float]:
    """Bytes per idle process: RSS growth and Lua heap growth, per process."""
    entries = {"bench:idle": Entry("bench:idle", "process.lua", IDLE),
               "bench:idles": Entry("bench:idles", "process.lua", IDLE_SPAWNER)}
    node, engine = make_node(entries)
    await node.exec("bench:idles", HOST, [10])   # warm up: code compiled, pools sized
    await asyncio.sleep(0.05)
    gc.collect()
    engine.lua.gccollect()
    rss0, heap0 = rss_bytes(), lua_heap(engine)
    await node.exec("bench:idles", HOST, [n])
    while engine.process_count() < n + 10:  # noqa: ASYNC110 - polls the engine's count
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)   # let every process reach its receive
    gc.collect()
    engine.lua.gccollect()
    rss1, heap1 = rss_bytes(), lua_heap(engine)
    engine.close()
    return (rss1 - rss0) / n, (heap1 - heap0) / n


async def funcs_call_us(n: int) -> float:
    entries = {"bench:add": Entry("bench:add", "function.lua", "return function(a, b) return a + b end"),
               "bench:caller": Entry("bench:caller", "process.lua", CALLER, modules=["funcs"])}
    node, _ = make_node(entries)
    await node.exec("bench:caller", HOST, [100])
    t = time.perf_counter()
    await node.exec("bench:caller", HOST, [n])
    return (time.perf_counter() - t) / n * 1e6


def bare_lua_call_us(n: int) -> float:
    lua = lua54.LuaRuntime()
    run = lua.eval("""function(n)
      local add = function(a, b) return a + b end
      local s = 0
      for i = 1, n do s = s + add(i, 1) end
      return s
    end""")
    t = time.perf_counter()
    run(n)
    return (time.perf_counter() - t) / n * 1e6


def row(name: str, ours: str, base: str, target: str = "") -> None:
    print(f"{name:<38} {ours:>18} {base:>22}   {target}")


async def main(quick: bool) -> None:
    scale = 10 if quick else 1
    row("figure", "wippy (Lua engine)", "baseline", "target")
    row("-" * 38, "-" * 18, "-" * 22)
    pp = await lua_ping_pong(200_000 // scale)
    st = await lua_stream(400_000 // scale)
    base_pp = await asyncio_ping_pong(200_000 // scale)
    row("messages/s, ping-pong", f"{pp:,.0f}", f"{base_pp:,.0f} (asyncio.Queue)", ">= 100,000")
    row("messages/s, one-way stream", f"{st:,.0f}", "", ">= 100,000")
    sp = await lua_spawns(100_000 // scale)
    base_sp = bare_coroutines(100_000 // scale)
    row("spawns/s", f"{sp:,.0f}", f"{base_sp:,.0f} (bare coroutine)", ">= 20,000")
    for n in (10_000, 100_000):
        if quick and n > 10_000:
            continue
        # a fresh interpreter each, so freed memory of earlier runs does not hide growth
        out = subprocess.run([sys.executable, __file__, "--memory", str(n)],  # noqa: ASYNC221 - nothing else runs meanwhile
                             capture_output=True, text=True)
        rss, heap = (float(x) for x in out.stdout.split())
        row(f"bytes per idle process @ {n:,}", f"{rss:,.0f} RSS", f"{heap:,.0f} Lua heap", "<= 13,000")
    fc = await funcs_call_us(200_000 // scale)
    base_fc = bare_lua_call_us(200_000 // scale)
    row("funcs.call round trip (us)", f"{fc:.2f}", f"{base_fc:.3f} (bare Lua call)", "<= 20")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--memory", type=int, help=argparse.SUPPRESS)   # internal: one memory run
    args = ap.parse_args()
    if args.memory:
        print(*asyncio.run(idle_memory(args.memory)))
    else:
        asyncio.run(main(args.quick))
