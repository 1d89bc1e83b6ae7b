"""HTTP figures: a Lua JSON endpoint beside a bare aiohttp handler doing the same work.

    .venv/bin/python bench/http_bench.py [--quick] [--connections N] [--seconds S]

Each server runs in its own process; the same load generator (an aiohttp client holding N
concurrent keep-alive connections, in this process) drives both in turn and prints
requests/s and p50/p99 latency side by side, then the Lua/bare throughput ratio.
The work: read a route parameter and a query value, answer a small JSON object.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime-image"))

HANDLER = """\
local http = require("http")
return {handler = function()
  local req, res = http.request(), http.response()
  res:write_json({hello = req:param("who"), n = tonumber(req:query("n")) or 0, items = {1, 2, 3}, ok = true})
end}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- servers
async def serve_lua(port: int) -> None:
    import logging
    logging.disable(logging.INFO)
    from wippy.registry import Entry, Op
    from wippy.runtime import Runtime
    rt = Runtime(None, node_name="bench", persist_history=False)
    await rt.start()
    await rt.registry.apply([
        Op.create(Entry("b:web", "http.service", data={"addr": f"127.0.0.1:{port}", "lifecycle": {"auto_start": True}})),
        Op.create(Entry("b:api", "http.router", meta={"server": "web"}, data={"prefix": "/api"})),
        Op.create(Entry("b:hello", "function.lua", data={"source": HANDLER, "method": "handler",
                                                       "modules": ["http", "json"]})),
        Op.create(Entry("b:hello.get", "http.endpoint", meta={"router": "api"},
                        data={"method": "GET", "path": "/hello/{who}", "func": "hello"})),
    ])
    print("ready", flush=True)
    await asyncio.Event().wait()


async def serve_bare(port: int) -> None:
    from aiohttp import web

    async def hello(request: web.Request) -> web.Response:
        n = request.query.get("n")
        body = {"hello": request.match_info["who"], "items": [1, 2, 3], "n": int(n) if n else 0, "ok": True}
        return web.Response(text=json.dumps(body, separators=(",", ":"), sort_keys=True), content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/hello/{who}", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


# ---------------------------------------------------------------------------- load
async def load(url: str, connections: int, seconds: float, warmup: float) -> tuple[float, float, float]:
    import aiohttp
    latencies: list[float] = []
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn) as session:
        async def worker(until: float, record: bool) -> None:
            while time.perf_counter() < until:
                t0 = time.perf_counter()
                async with session.get(url) as r:
                    await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{url}: HTTP {r.status}")
                if record:
                    latencies.append(time.perf_counter() - t0)

        await asyncio.gather(*(worker(time.perf_counter() + warmup, False) for _ in range(connections)))
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + seconds, True) for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return len(latencies) / elapsed, pick(0.50), pick(0.99)


def run_mode(mode: str, connections: int, seconds: float, warmup: float) -> tuple[float, float, float]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--port", str(port)],
                            stdout=subprocess.PIPE, text=True)
    try:
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{mode} server did not start")
        return asyncio.run(load(f"http://127.0.0.1:{port}/api/hello/ann?n=7", connections, seconds, warmup))
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="short runs (for tests)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--serve", choices=["lua", "bare"], help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        asyncio.run(serve_lua(args.port) if args.serve == "lua" else serve_bare(args.port))
        return
    seconds, warmup = (1.0, 0.3) if args.quick else (args.seconds, 1.0)
    print(f"GET /api/hello/{{who}} -> small JSON; {args.connections} connections, {seconds:g}s per server")
    print(f"{'server':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    results = {}
    for mode, label in (("bare", "bare aiohttp handler"), ("lua", "Lua endpoint (http.endpoint)")):
        rps, p50, p99 = results[mode] = run_mode(mode, args.connections, seconds, warmup)
        print(f"{label:<34}{rps:>10.0f}{p50:>10.2f}{p99:>10.2f}", flush=True)
    print(f"Lua / bare throughput: {results['lua'][0] / results['bare'][0]:.0%} (target >= 50%)")


if __name__ == "__main__":
    main()
