"""The metrics module and the Prometheus endpoint with the runtime's own figures."""
from __future__ import annotations

import aiohttp

from tests.data.test_data_queue import base_entries, seen
from tests.runtime.test_live_change import eventually
from wippy import metrics


async def test_metrics_module_and_prometheus_endpoint(runtime, unused_tcp_port):
    await runtime.put(*base_entries(), ("app:m", "function.lua", {"method": "main", "modules": ["metrics"], "source": """
        local metrics = require("metrics")
        return function()
          assert(metrics.counter_inc("tasks_done_total", {queue = "jobs"}))
          assert(metrics.counter_add("tasks_done_total", 2, {queue = "jobs"}))
          assert(metrics.gauge_set("workers_busy", 3))
          assert(metrics.histogram("task_seconds", 0.25, {kind = "a"}))
          local _, neg = metrics.counter_add("tasks_done_total", -1, {queue = "jobs"})
          local _, lbl = metrics.counter_inc("tasks_done_total", {other = "x"})
          local _, name = metrics.gauge_set("bad name", 1)
          return {tostring(neg), tostring(lbl), tostring(name)}
        end"""}))
    out = await runtime.call("app:m")
    assert "only goes up" in out[0] and "has labels ['queue']" in out[1] and "invalid metric name" in out[2]
    await runtime.call("app:publish", "app:jobs", {"n": 1})
    await eventually(lambda: seen(runtime, "1"))
    runner = await metrics.serve(runtime, "127.0.0.1", unused_tcp_port)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as r:
                assert r.status == 200
                text = await r.text()
    finally:
        await runner.cleanup()
        metrics.detach(runtime)
    assert 'tasks_done_total{queue="jobs"} 3.0' in text
    assert "workers_busy 3.0" in text
    assert 'task_seconds_bucket{kind="a",le="0.25"} 1.0' in text
    assert 'wippy_processes{host="wippy:functions"}' in text
    assert 'wippy_messages_total{host="wippy:functions"}' in text
    assert 'wippy_queue_depth{queue="app:jobs"} 0.0' in text
    assert 'wippy_function_calls_total{function="app:handle",status="ok"}' in text
    assert 'wippy_function_call_seconds_count{function="app:handle"}' in text
