"""A running app for hostile-entry tests: one process host with a long-lived victim process, an
HTTP service with a plain endpoint, and a prober that keeps measuring both while an attack runs.

An attack is Lua code run as a process (or called as an HTTP handler) on the same host as the
victim. The prober records latencies; a test asserts that every probe was answered and that
the attack ended only its own process (or was refused)."""
from __future__ import annotations

import asyncio
import socket
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from wippy.engine.errors import WippyError
from wippy.http.manager import HttpManager
from wippy.runtime import Runtime

HOST = "app:procs"
PROBE_HOST = "app:probing"

INDEX = """\
version: "1.0"
namespace: app
entries:
  - name: procs
    kind: process.host
    limits: {{max_memory: 96MiB, max_timers: 200, max_mailbox: 5000, busy_timeout: 1s}}
    host: {{max_processes: 3000}}
    lifecycle: {{auto_start: true}}
  - {{name: web, kind: http.service, addr: "127.0.0.1:{port}", timeouts: {{read: 2s}}, lifecycle: {{auto_start: true}}}}
  - {{name: api, kind: http.router, meta: {{server: web}}, prefix: /}}
  - {{name: ping, kind: function.lua, source: file://ping.lua, method: handler, modules: [http]}}
  - {{name: ping.get, kind: http.endpoint, meta: {{router: api}}, method: GET, path: /ping, func: ping}}
  - {{name: evil, kind: function.lua, source: file://evil.lua, method: handler, modules: [http, time, json]}}
  - {{name: evil.get, kind: http.endpoint, meta: {{router: api}}, method: GET, path: /evil, func: evil}}
  - {{name: victim, kind: process.lua, source: file://victim.lua, method: main}}
  - name: victim.service
    kind: process.service
    process: victim
    host: procs
    lifecycle: {{auto_start: true}}
  - {{name: probing, kind: process.host, lifecycle: {{auto_start: true}}}}
  - {{name: probe, kind: process.lua, source: file://probe.lua, method: main, modules: [time]}}
"""

PING = """\
local http = require("http")
local function handler()
  local res = http.response()
  res:set_header("X-Probe", "1")
  res:write("pong")
end
return {handler = handler}
"""

# answers every message with its payload plus a count; keeps a table that an attacker must
# never see changed
VICTIM = """\
function main()
  process.registry.register("victim")
  local seen = 0
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    seen = seen + 1
    local ch = channel.new(1)
    ch:send(m:payload():data())
    process.send(m:from(), "pong", {echo = ch:receive(), seen = seen, text = ("x"):rep(3),
                                    ok = errors.new("e"):message() == "e"})
  end
end
"""

PROBE = """\
local time = require("time")
-- runs on another host (a spawn bomb may fill the victim's); a full mailbox drops a message,
-- so an unanswered ping is sent again
function main(n)
  for attempt = 1, 6 do
    process.send("victim", "ping", n)
    local r = channel.select({process.inbox():case_receive(), time.after("500ms"):case_receive()})
    if r.channel == process.inbox() then return r.value:payload():data() end
  end
  return nil, "victim did not answer"
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Probes:
    """Wall time of each probe, and the CPU time this process (the node) spent meanwhile: on a
    loaded machine wall time mostly says how long the OS kept the node waiting, the CPU time how
    long the node made the probe wait (what it would wait on an idle machine)."""
    process_ms: list[float] = field(default_factory=list)
    http_ms: list[float] = field(default_factory=list)
    process_cpu_ms: list[float] = field(default_factory=list)
    http_cpu_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self, usual: "Probes | None" = None) -> str:
        def stat(xs, base):
            if not xs:
                return "none"
            xs = sorted(xs)
            over = f" (+{xs[-1] - median(base):.1f}ms over usual)" if base else ""
            return f"n={len(xs)} median={median(xs):.1f}ms max={xs[-1]:.1f}ms{over}"
        return (f"victim process {stat(self.process_ms, usual and usual.process_ms)}, node CPU "
                f"{stat(self.process_cpu_ms, usual and usual.process_cpu_ms)}; "
                f"http {stat(self.http_ms, usual and usual.http_ms)}, node CPU "
                f"{stat(self.http_cpu_ms, usual and usual.http_cpu_ms)}")

    def worst_over(self, usual: "Probes") -> tuple[float, float, float, float]:
        """How much longer than usual (medians before any attack) the slowest probes took, in ms:
        wall time of the victim's and HTTP's, then the node's CPU time during them."""
        def over(xs, base):
            return max(xs, default=0) - median(base)
        return (over(self.process_ms, usual.process_ms), over(self.http_ms, usual.http_ms),
                over(self.process_cpu_ms, usual.process_cpu_ms), over(self.http_cpu_ms, usual.http_cpu_ms))


# How long an attack may take: CPU seconds of this process (the node and its probes), and a wall
# time bound for an attack that hangs idle. Ending four memory hogs costs the node ~7 s of CPU (the
# collector's full cycles over a heap at its cap): at load 10 on two cores that is over a minute.
ATTACK_CPU = 30.0
ATTACK_WALL = 300.0


async def _within_node_cpu(coro, cpu: float, wall: float):
    """coro's result, or asyncio.TimeoutError once this process has spent `cpu` seconds of CPU
    (or `wall` seconds have passed) on it: on a loaded machine wall time says how long the OS kept
    the node waiting, not how long the node took."""
    task = asyncio.ensure_future(coro)
    c0, t0 = time.process_time(), time.monotonic()
    while not task.done():
        await asyncio.wait({task}, timeout=0.2)
        if not task.done() and (time.process_time() - c0 > cpu or time.monotonic() - t0 > wall):
            task.cancel()
            raise asyncio.TimeoutError(f"still running after {time.process_time() - c0:.1f}s of the node's CPU "
                                       f"({time.monotonic() - t0:.0f}s)")
    return task.result()


def median(xs: list[float]) -> float:
    return sorted(xs)[len(xs) // 2] if xs else 0.0


class HostileApp:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.runtime: Runtime | None = None
        self.session: aiohttp.ClientSession | None = None
        self.seq = 0
        self.usual = Probes()          # latencies before any attack
        self.report: dict[str, tuple[float, ...]] = {}   # attack -> Probes.worst_over

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(textwrap.dedent(text))

    async def start(self, evil: str = "local function handler() end\nreturn {handler = handler}\n") -> None:
        self.write("_index.yaml", INDEX.format(port=self.port))
        self.write("ping.lua", PING)
        self.write("evil.lua", evil)
        self.write("victim.lua", VICTIM)
        self.write("probe.lua", PROBE)
        self.runtime = Runtime(self.root, node_name="test")
        await self.runtime.start()
        assert self.runtime.errors == [], self.runtime.errors
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        await self.wait_victim()
        for _ in range(10):
            await self.probe_once(self.usual)

    def record(self, name: str, probes: Probes) -> str:
        """Keep an attack's worst latencies over usual for the closing table; its summary line."""
        self.report[name] = probes.worst_over(self.usual)
        return probes.summary(self.usual)

    def latency_table(self) -> str:
        """The neighbours' worst latency over usual, per attack, worst first (printed, not
        asserted: the machine may be loaded; bench/ is where speed is measured)."""
        rows = sorted(self.report.items(), key=lambda kv: -max(kv[1][2:]))
        lines = [f"usual: {self.usual.summary()}",
                 f"{'attack':<40} {'victim +ms':>10} {'http +ms':>10} {'cpu: victim':>12} {'http':>6}"]
        lines += [f"{name:<40} {v:>10.1f} {h:>10.1f} {cv:>12.1f} {ch:>6.1f}" for name, (v, h, cv, ch) in rows]
        return "\n".join(lines)

    @property
    def node(self):
        return self.runtime.node

    @property
    def engine(self):
        return self.node.hosts[HOST]

    async def wait_victim(self) -> None:
        for _ in range(200):
            if self.node.lookup_name("victim"):
                return
            await asyncio.sleep(0.02)
        raise AssertionError("victim never registered")

    async def add_process(self, name: str, source: str, modules: list[str] | None = None) -> str:
        """Add a process.lua entry to the live registry; returns its id."""
        from wippy.registry import Entry, Op
        entry_id = f"app:{name}"
        data = {"source": textwrap.dedent(source), "method": "main", "modules": modules or []}
        await self.runtime.registry.apply([Op("create", Entry.from_dict({"id": entry_id, "kind": "process.lua",
                                                                          "data": data}))])
        return entry_id

    async def probe_once(self, probes: Probes) -> None:
        self.seq += 1
        t, c = time.perf_counter(), time.process_time()
        try:
            r = await asyncio.wait_for(self.node.exec("app:probe", PROBE_HOST, [self.seq]), 10)
            if not (isinstance(r, dict) and r.get("echo") == self.seq and r.get("text") == "xxx" and r.get("ok")):
                probes.failures.append(f"victim answered {r!r}")
            probes.process_ms.append((time.perf_counter() - t) * 1000)
            probes.process_cpu_ms.append((time.process_time() - c) * 1000)
        except Exception as e:   # noqa: BLE001 - any failure is what the test reports
            probes.failures.append(f"victim probe: {type(e).__name__}: {e}")
        t, c = time.perf_counter(), time.process_time()
        try:
            async with self.session.get(f"http://127.0.0.1:{self.port}/ping") as r:
                body = await r.text()
                if r.status != 200 or body != "pong" or r.headers.get("X-Probe") != "1":
                    probes.failures.append(f"http answered {r.status} {body!r}")
            probes.http_ms.append((time.perf_counter() - t) * 1000)
            probes.http_cpu_ms.append((time.process_time() - c) * 1000)
        except Exception as e:   # noqa: BLE001
            probes.failures.append(f"http probe: {type(e).__name__}: {e}")

    async def measured(self, attack) -> tuple[object, Probes]:
        """Run `attack()` (a coroutine function) while probing; returns its outcome (value or
        the exception it raised) and the probes, including some after the attack ended."""
        probes = Probes()
        done = asyncio.Event()

        async def prober():
            while not done.is_set():
                await self.probe_once(probes)
                await asyncio.sleep(0.02)

        task = asyncio.create_task(prober())
        try:
            try:
                outcome = await _within_node_cpu(attack(), ATTACK_CPU, ATTACK_WALL)
            except (WippyError, asyncio.TimeoutError, aiohttp.ClientError) as e:
                outcome = e
        finally:
            done.set()
            await task
        await self.probe_once(probes)   # and the node still serves after it
        return outcome, probes

    async def settle(self) -> None:
        """End whatever an attack left on the host (sleepers, bombs), all but the victim."""
        S = self.engine.S
        for _ in range(3):
            pids = [pid for pid, proc in S.procs.items() if proc.entry != "app:victim"]
            for pid in pids:
                self.engine.terminate(pid, "test cleanup")
            await asyncio.sleep(0.05)
        await self.wait_victim()

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runtime is not None:
            await HttpManager.of(self.runtime).close()
            await self.runtime.stop()
