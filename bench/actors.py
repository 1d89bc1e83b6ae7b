"""Actor figures of the Lua engine, each printed beside a baseline measured in the same run.

    .venv/bin/python bench/actors.py [--quick]
    .venv/bin/python bench/actors.py --against REV [--rounds 5] [--quick]

- messages/s between two Lua processes (ping-pong round trips and a one-way stream),
  beside an asyncio.Queue ping-pong between two Python tasks;
- spawns/s of a short-lived process, beside bare lupa coroutine creation + resume;
- resident memory per idle process at 10k and 100k processes (each blocked on its inbox);
- funcs.call round trip from Lua, beside a bare lupa call into a Lua function;
- a pure-Lua loop in a process (a call and a loop iteration per step: what the front end's yield
  points cost), beside the same loop in bare lupa.

With --against, each figure of this tree's runtime is printed beside the same figure of REV's
runtime (`git archive` of its runtime-image/), the two measured in turn in fresh interpreters,
best of --rounds rounds each, timed in CPU time: a before/after comparison on a shared, noisy
machine. With --against REV --instructions, each figure is instead the count of machine
instructions per operation under valgrind's callgrind (the difference between two run sizes, so
start-up cancels out): stable whatever the load.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# WIPPY_RUNTIME: another tree's runtime-image (set by --against for its rounds)
sys.path.insert(0, os.environ.get("WIPPY_RUNTIME") or str(ROOT / "runtime-image"))

from lupa import lua54  # noqa: E402

from wippy.engine.engine import Engine  # noqa: E402
from wippy.engine.node import Node  # noqa: E402

HOST = "bench:host"
# wall time; --against times its rounds in CPU time of the process (the machine is shared, and
# every figure here is one thread's work)
clock = time.perf_counter


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
    # funcs.call loop is one slice), and no count, size or busy-time limit stops the 100k-process,
    # 400k-message and (under callgrind, ~50x slower) long loop runs
    limits = dict(slice_timeout=5.0, max_processes=0, max_mailbox=0, max_memory=0, busy_timeout=0)
    accepted = inspect.signature(Engine).parameters   # an older runtime (--against) lacks some
    engine = Engine(node, HOST, **{k: v for k, v in limits.items() if k in accepted})
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


LOOPER = """
local function step(x) return (x * 31 + 7) % 1000003 end
function main(n)
  local x = 1
  for i = 1, n do x = step(x) end
  return x
end"""


async def lua_loop_ns(n: int) -> float:
    entries = {"bench:loop": Entry("bench:loop", "process.lua", LOOPER)}
    node, _ = make_node(entries)
    await node.exec("bench:loop", HOST, [100])
    t = clock()
    await node.exec("bench:loop", HOST, [n])
    return (clock() - t) / n * 1e9


def bare_loop_ns(n: int) -> float:
    lua = lua54.LuaRuntime()
    run = lua.eval("""function(n)
      local function step(x) return (x * 31 + 7) % 1000003 end
      local x = 1
      for i = 1, n do x = step(x) end
      return x
    end""")
    t = clock()
    run(n)
    return (clock() - t) / n * 1e9


async def lua_ping_pong(n: int) -> float:
    entries = {"bench:pong": Entry("bench:pong", "process.lua", PONG),
               "bench:ping": Entry("bench:ping", "process.lua", PING)}
    node, _ = make_node(entries)
    t = clock()
    await node.exec("bench:ping", HOST, [n])
    return 2 * n / (clock() - t)


async def lua_stream(n: int) -> float:
    entries = {"bench:sink": Entry("bench:sink", "process.lua", SINK),
               "bench:src": Entry("bench:src", "process.lua", SOURCE)}
    node, _ = make_node(entries)
    t = clock()
    await node.exec("bench:src", HOST, [n])
    return n / (clock() - t)


async def asyncio_ping_pong(n: int) -> float:
    a, b = asyncio.Queue(), asyncio.Queue()

    async def pong():
        while True:
            v = await a.get()
            if v is None:
                return
            await b.put(v)

    task = asyncio.create_task(pong())
    t = clock()
    for i in range(n):
        await a.put(i)
        await b.get()
    elapsed = clock() - t
    await a.put(None)
    await task
    return 2 * n / elapsed


async def lua_spawns(n: int) -> float:
    entries = {"bench:short": Entry("bench:short", "process.lua", "function main(i) return i end"),
               "bench:spawner": Entry("bench:spawner", "process.lua", SPAWNER)}
    node, engine = make_node(entries)
    t = clock()
    await node.exec("bench:spawner", HOST, [n])
    # count until every spawned process has run and exited (no event says so: poll)
    while engine.process_count() > 0:  # noqa: ASYNC110
        await asyncio.sleep(0)
    return n / (clock() - t)


def bare_coroutines(n: int) -> float:
    lua = lua54.LuaRuntime()
    run = lua.eval("""function(n)
      local f = function(i) return i end
      for i = 1, n do local co = coroutine.create(f); coroutine.resume(co, i) end
    end""")
    t = clock()
    run(n)
    return n / (clock() - t)


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
    t = clock()
    await node.exec("bench:caller", HOST, [n])
    return (clock() - t) / n * 1e6


def bare_lua_call_us(n: int) -> float:
    lua = lua54.LuaRuntime()
    run = lua.eval("""function(n)
      local add = function(a, b) return a + b end
      local s = 0
      for i = 1, n do s = s + add(i, 1) end
      return s
    end""")
    t = clock()
    run(n)
    return (clock() - t) / n * 1e6


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
    lp = await lua_loop_ns(5_000_000 // scale)
    base_lp = bare_loop_ns(5_000_000 // scale)
    row("pure-Lua loop step (ns)", f"{lp:.1f}", f"{base_lp:.1f} (bare lupa)")


async def figures(quick: bool) -> dict:
    """The engine's own figures (no baselines), for --against."""
    scale = 10 if quick else 1
    out = {"messages/s, ping-pong": await lua_ping_pong(200_000 // scale),
           "messages/s, one-way stream": await lua_stream(400_000 // scale),
           "spawns/s": await lua_spawns(100_000 // scale),
           "funcs.call round trip (us)": await funcs_call_us(200_000 // scale),
           "pure-Lua loop step (ns)": await lua_loop_ns(5_000_000 // scale)}
    return out


# figure -> (function of n, what one n is); instructions per operation under callgrind
COUNTED = {
    "messages, ping-pong": (lambda n: lua_ping_pong(n // 2), "message"),
    "messages, one-way stream": (lua_stream, "message"),
    "spawns": (lua_spawns, "spawn"),
    "funcs.call round trips": (funcs_call_us, "call"),
    "pure-Lua loop steps": (lua_loop_ns, "step"),
}
# (the loop's sizes keep the runtime before preemption, which runs the loop as one slice, under
# its 5 s slice limit at callgrind's speed)
SIZES = {"messages, ping-pong": (2_000, 12_000), "messages, one-way stream": (2_000, 22_000),
         "spawns": (1_000, 6_000), "funcs.call round trips": (2_000, 12_000),
         "pure-Lua loop steps": (100_000, 600_000)}


def callgrind_total(runtime: str, fig: str, n: int) -> int:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
           "--one", fig, str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "WIPPY_RUNTIME": runtime})
    for line in out.stderr.splitlines():
        if "Collected :" in line:
            return int(line.split(":")[-1])
    raise RuntimeError(f"no callgrind total for {fig}: {out.stderr[-500:]}")


def instructions(trees: dict[str, str]) -> dict[str, dict[str, float]]:
    """Machine instructions per operation of each figure, per tree."""
    out: dict[str, dict[str, float]] = {name: {} for name in trees}
    for fig, (n1, n2) in SIZES.items():
        for name, path in trees.items():
            per = (callgrind_total(path, fig, n2) - callgrind_total(path, fig, n1)) / (n2 - n1)
            out[name][f"instructions per {COUNTED[fig][1]}, {fig}"] = per
    return out


def memory_figures() -> dict:
    # a fresh interpreter, so freed memory of the runs above does not hide growth
    out = subprocess.run([sys.executable, __file__, "--memory", "10000"], capture_output=True, text=True, check=True)
    rss, heap = (float(x) for x in out.stdout.split())
    return {"RSS bytes per idle process @ 10,000": rss, "Lua heap bytes per idle process @ 10,000": heap}


LOWER_IS_BETTER = ("(us)", "(ns)", "bytes", "instructions")


def against(rev: str, rounds: int, quick: bool, counted: bool = False) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "runtime-image"],
                                 capture_output=True, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tmp, filter="data")
        trees = {"this tree": str(ROOT / "runtime-image"), rev: str(Path(tmp) / "runtime-image")}
        best: dict[str, dict[str, float]] = {name: {} for name in trees}
        if counted:
            best = instructions(trees)
            rounds = 0
        for _ in range(rounds):
            for name, path in trees.items():   # in turn, so load on the machine hits both alike
                cmd = [sys.executable, __file__, "--figures"] + (["--quick"] if quick else [])
                out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                                     env={**os.environ, "WIPPY_RUNTIME": path})
                for fig, v in json.loads(out.stdout).items():
                    lower = any(w in fig for w in LOWER_IS_BETTER)
                    old = best[name].get(fig)
                    best[name][fig] = v if old is None else (min(old, v) if lower else max(old, v))
    print("machine instructions per operation (callgrind)" if counted else
          f"best of {rounds} rounds each, measured in turn, in CPU time")
    row("figure", "this tree", rev, "change")
    row("-" * 38, "-" * 18, "-" * 22)
    for fig, v in best["this tree"].items():
        base = best[rev][fig]
        lower = any(w in fig for w in LOWER_IS_BETTER)
        change = (base / v - 1) if lower else (v / base - 1)   # + is better
        fmt = "{:.2f}" if "(us)" in fig or "(ns)" in fig else "{:,.0f}"
        row(fig, fmt.format(v), fmt.format(base), f"{change:+.1%}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    ap.add_argument("--against", metavar="REV", help="compare with the runtime of git revision REV")
    ap.add_argument("--rounds", type=int, default=5, help="rounds per tree with --against")
    ap.add_argument("--memory", type=int, help=argparse.SUPPRESS)   # internal: one memory run
    ap.add_argument("--figures", action="store_true", help=argparse.SUPPRESS)   # internal: one round
    ap.add_argument("--instructions", action="store_true",
                    help="with --against: machine instructions per operation under callgrind")
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)   # internal: one figure, one size
    args = ap.parse_args()
    if args.one:
        asyncio.run(COUNTED[args.one[0]][0](int(args.one[1])))
    elif args.memory:
        print(*asyncio.run(idle_memory(args.memory)))
    elif args.figures:
        clock = time.process_time
        print(json.dumps({**asyncio.run(figures(args.quick)), **memory_figures()}))
    elif args.against:
        against(args.against, args.rounds, args.quick, args.instructions)
    else:
        asyncio.run(main(args.quick))
