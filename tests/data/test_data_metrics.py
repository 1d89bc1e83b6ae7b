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


async def test_queue_backlog_lag_and_consumers_are_served(runtime, unused_tcp_port):
    """A queue whose consumer keeps up has no lag; one no consumer reads falls behind by the age of
    its oldest message, and its consumers count says why."""
    import asyncio

    from prometheus_client.parser import text_string_to_metric_families

    await runtime.put(*base_entries())
    await runtime.call("app:publish", "app:jobs", {"n": 1})
    await eventually(lambda: seen(runtime, "1"))
    await runtime.call("app:publish", "app:dead", {"n": 2})   # no consumer reads app:dead
    await runtime.call("app:publish", "app:dead", {"n": 3})
    await asyncio.sleep(0.5)
    runner = await metrics.serve(runtime, "127.0.0.1", unused_tcp_port)
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{unused_tcp_port}/metrics") as r:
                text = await r.text()
    finally:
        await runner.cleanup()
        metrics.detach(runtime)
    value = {(s.name, s.labels.get("queue")): s.value
             for f in text_string_to_metric_families(text) for s in f.samples}
    assert value[("wippy_queue_consumers", "app:jobs")] == 1 and value[("wippy_queue_consumers", "app:dead")] == 0
    assert value[("wippy_queue_depth", "app:dead")] == 2 and value[("wippy_queue_depth", "app:jobs")] == 0
    assert value[("wippy_queue_consumer_lag_seconds", "app:jobs")] == 0
    assert 0.5 <= value[("wippy_queue_consumer_lag_seconds", "app:dead")] < 60
