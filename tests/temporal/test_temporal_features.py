"""Workflow features through the Lua API: durable sleep, child workflows, cancel,
continue-as-new, names, signal-with-start, activity errors, and the determinism gate."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError

from wippy.runtime import Runtime

from .conftest import eventually, write_app

pytestmark = pytest.mark.temporal

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: temporal, kind: temporal.client, address: "ADDRESS"}
  - {name: worker, kind: temporal.worker, client: temporal, task_queue: "QUEUE", lifecycle: {auto_start: true}}
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: sleeper
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://sleeper.lua
    method: main
    modules: [time, uuid]
  - name: child
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://child.lua
    method: main
    modules: [funcs]
  - name: parent
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://parent.lua
    method: main
  - name: waiter
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://waiter.lua
    method: main
    modules: [funcs]
  - name: stubborn
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://stubborn.lua
    method: main
  - name: counter
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://counter.lua
    method: main
    modules: [workflow]
  - name: failing
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: file://failing.lua
    method: main
    modules: [funcs]
  - name: double
    kind: function.lua
    meta: {temporal: {activity: {worker: app:worker}}}
    source: file://acts.lua
    method: double
  - name: boom
    kind: function.lua
    meta: {temporal: {activity: {worker: app:worker}}}
    source: file://acts.lua
    method: boom
  - name: cleanup
    kind: function.lua
    meta: {temporal: {activity: {worker: app:worker}}}
    source: file://acts.lua
    method: cleanup
  - name: driver
    kind: process.lua
    source: file://driver.lua
    method: main
"""

FILES = {
    "sleeper.lua": """
        local time = require("time")
        local uuid = require("uuid")
        local function main(d)
          local t0 = time.now()
          time.sleep(d)
          local waited = time.now():sub(t0):milliseconds()
          return {slept_ms = waited, id = uuid.v4(), r = math.random(1000000), os_time = os.time()}
        end
        return {main = main}
    """,
    "child.lua": """
        local funcs = require("funcs")
        local function main(n) return funcs.call("app:double", n) end
        return {main = main}
    """,
    "parent.lua": """
        local function main(n)
          -- a synchronous child, then a monitored one reporting through an EXIT event
          local a, err = process.exec("app:child", "app:worker", n)
          if err then return nil, err end
          local pid = process.spawn_monitored("app:child", "app:worker", a)
          local ev = process.events():receive()
          return {a = a, b = ev.result.value, from = ev.from == pid}
        end
        return {main = main}
    """,
    "waiter.lua": """
        local funcs = require("funcs")
        local function main()
          local inbox, events = process.inbox(), process.events()
          local got = {}
          while true do
            local r = channel.select({inbox:case_receive(), events:case_receive()})
            if r.channel == events and r.value.kind == process.event.CANCEL then
              funcs.call("app:cleanup", #got)
              return {canceled = true, seen = got}
            end
            if r.channel == inbox then
              local m = r.value
              got[#got + 1] = m:topic() .. "=" .. tostring(m:payload():data())
              if m:topic() == "stop" then return {seen = got} end
            end
          end
        end
        return {main = main}
    """,
    "stubborn.lua": """
        local function main() return process.inbox():receive():payload():data() end
        return {main = main}
    """,
    "counter.lua": """
        local workflow = require("workflow")
        local function main(n, runs)
          runs = runs or {}
          runs[#runs + 1] = workflow.info().run_id
          if n < 3 then process.upgrade(nil, n + 1, runs) end
          return {n = n, runs = #runs}
        end
        return {main = main}
    """,
    "failing.lua": """
        local funcs = require("funcs")
        local function main()
          local v, err = funcs.new():with_options({["activity.retry_policy"] = {maximum_attempts = 1}}):call("app:boom")
          if err then return {kind = err:kind(), message = err:message(), retryable = err:retryable()} end
          return v
        end
        return {main = main}
    """,
    "acts.lua": """
        local M = {}
        function M.double(n) return n * 2 end
        function M.boom() return nil, errors.new({kind = errors.UNAVAILABLE, message = "payment gateway down", retryable = true}) end
        function M.cleanup(n) return true end
        return M
    """,
    "driver.lua": """
        local function main(what, pid, a, b)
          if what == "send" then return process.send(pid, a, b) end
          if what == "cancel" then return process.cancel(pid) end
          if what == "named" then
            local sp = process.with_options({}):with_name(a)
            local p1 = sp:spawn("app:waiter", "app:worker")
            local p2 = sp:spawn("app:waiter", "app:worker")
            return {p1 = p1, p2 = p2}
          end
          if what == "with_message" then
            return process.with_options({["temporal.workflow.execution_timeout"] = "1m"})
              :with_message("hello", "first")
              :exec("app:stubborn", "app:worker")
          end
        end
        return {main = main}
    """,
}


@pytest.fixture
async def rt(tmp_path, temporal_address):
    index = INDEX.replace("ADDRESS", temporal_address).replace("QUEUE", "q-" + uuid.uuid4().hex[:8])
    app = write_app(tmp_path / "app", index, FILES)
    runtime = Runtime(app, node_name="n1")
    await runtime.start()
    assert not runtime.errors, runtime.errors
    yield runtime
    await runtime.stop()


def wid_of(pid: str) -> str:
    return pid.split("|", 1)[1][:-1]


async def test_sleep_then_continue_is_a_durable_timer(rt):
    out = await asyncio.wait_for(rt.node.exec("app:sleeper", "app:worker", ["1s"]), 30)
    assert out["slept_ms"] >= 1000
    assert len(out["id"]) == 36
    pid = rt.node.spawn("app:sleeper", "app:worker", ["50ms"])
    await asyncio.sleep(0.5)
    handle = rt.node.hosts["app:worker"].client.get_workflow_handle(wid_of(pid))
    await handle.result()
    timers = [e async for e in handle.fetch_history_events() if e.HasField("timer_started_event_attributes")]
    assert len(timers) == 1


async def test_child_workflows_exec_and_monitored_spawn(rt):
    out = await asyncio.wait_for(rt.node.exec("app:parent", "app:worker", [5]), 30)
    assert out == {"a": 10, "b": 20, "from": True}


async def test_signals_then_cancel_runs_cleanup(rt):
    pid = rt.node.spawn("app:waiter", "app:worker", [])
    await rt.node.exec("app:driver", "app:procs", ["send", pid, "a", 1])
    await rt.node.exec("app:driver", "app:procs", ["send", pid, "b", 2])
    handle = rt.node.hosts["app:worker"].client.get_workflow_handle(wid_of(pid))

    async def two_signals():
        try:
            await handle.describe()
        except Exception:  # spawn returns the pid before Temporal has the start
            return False
        return len([e async for e in handle.fetch_history_events()
                    if e.HasField("workflow_execution_signaled_event_attributes")]) == 2
    await eventually(two_signals)
    await rt.node.exec("app:driver", "app:procs", ["cancel", pid])
    assert await asyncio.wait_for(handle.result(), 30) == {"canceled": True, "seen": ["a=1", "b=2"]}


async def test_cancel_of_a_workflow_not_watching_events_cancels_it(rt):
    pid = rt.node.spawn("app:stubborn", "app:worker", [])
    handle = rt.node.hosts["app:worker"].client.get_workflow_handle(wid_of(pid))
    await asyncio.sleep(0.5)
    rt.node.cancel(pid, None, "test")
    with pytest.raises(WorkflowFailureError):
        await asyncio.wait_for(handle.result(), 30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.CANCELED


async def test_terminate(rt):
    pid = rt.node.spawn("app:stubborn", "app:worker", [])
    handle = rt.node.hosts["app:worker"].client.get_workflow_handle(wid_of(pid))
    await asyncio.sleep(0.5)
    rt.node.terminate(pid)

    async def terminated():
        return (await handle.describe()).status == WorkflowExecutionStatus.TERMINATED
    await eventually(terminated)


async def test_upgrade_is_continue_as_new(rt):
    out = await asyncio.wait_for(rt.node.exec("app:counter", "app:worker", [1]), 30)
    assert out == {"n": 3, "runs": 3}


async def test_activity_error_keeps_kind_message_retryable(rt):
    out = await asyncio.wait_for(rt.node.exec("app:failing", "app:worker", []), 30)
    assert out == {"kind": "Unavailable", "message": "payment gateway down", "retryable": True}


async def test_with_name_dedupes_and_with_message_is_signal_with_start(rt):
    name = "order-" + uuid.uuid4().hex[:6]
    pids = await rt.node.exec("app:driver", "app:procs", ["named", None, name])
    assert pids["p1"] == pids["p2"] == f"{{app:temporal@app:worker|{name}}}"
    got = await asyncio.wait_for(rt.node.exec("app:driver", "app:procs", ["with_message"]), 30)
    assert got == "first"
    rt.node.hosts["app:worker"].terminate(pids["p1"])


async def test_workflow_requiring_a_nondeterministic_module_fails_at_load(tmp_path, temporal_address):
    index = INDEX.replace("ADDRESS", temporal_address).replace("QUEUE", "q-bad") + """\
  - name: bad
    kind: workflow.lua
    meta: {temporal: {workflow: {worker: app:worker}}}
    source: 'return {main = function() return require("logger") end}'
    method: main
    modules: [funcs, logger]
"""
    app = write_app(tmp_path / "bad", index, FILES)
    runtime = Runtime(app, node_name="n1")
    await runtime.start()
    try:
        assert any("app:bad: workflow code may require only deterministic or workflow modules; "
                   "not allowed: 'logger' (io)" in e for e in runtime.errors), runtime.errors
    finally:
        await runtime.stop()
