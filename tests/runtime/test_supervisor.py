"""Supervision of process.service (reference §3): backoff, max_attempts, normal exit, stop."""
import asyncio

import pytest

from tests.engine.conftest import HOST, LuaApp
from wippy.kinds.models.lifecycle import Lifecycle, RestartPolicy
from wippy.supervisor.supervisor import ServiceSpec, State, Supervisor, restart_delay


def lifecycle(**restart) -> Lifecycle:
    return Lifecycle.model_validate({"auto_start": True, "stop_timeout": "200ms", "restart": restart})


async def wait_state(sup: Supervisor, sid: str, state: State, timeout: float = 5.0) -> None:
    async def poll():
        while sup.services[sid].state != state:  # noqa: ASYNC110 - the supervisor has no state-change event
            await asyncio.sleep(0.005)
    await asyncio.wait_for(poll(), timeout)


@pytest.fixture
async def lua():
    app = LuaApp()
    app.process("app:crasher", 'function main() error("crash") end')
    app.process("app:oneshot", 'function main() return "done" end')
    app.process("app:server", """
    function main()
      local ev = process.events():receive()
      return "stopped: " .. tostring(ev.reason)
    end""")
    app.process("app:stubborn", """
    local time = require("time")
    function main() while true do time.sleep("10ms") end end""", modules=["time"])
    return app


def test_backoff_formula():
    p = RestartPolicy.model_validate({"initial_delay": "1s", "max_delay": "90s", "jitter": 0})
    assert [restart_delay(p, n) for n in range(1, 10)] == [1, 2, 4, 8, 16, 32, 64, 90, 90]
    pj = RestartPolicy.model_validate({"initial_delay": "1s"})
    assert restart_delay(pj, 1, rng=lambda: 0.0) == pytest.approx(0.9)
    assert restart_delay(pj, 1, rng=lambda: 1.0) == pytest.approx(1.1)


async def test_failures_back_off_then_give_up(lua):
    sup = Supervisor(lua.node)
    spec = ServiceSpec("app:svc", "app:crasher", HOST, [],
                       lifecycle(initial_delay="10ms", backoff_factor=2, max_delay="30ms", jitter=0, max_attempts=3))
    sup.add(spec)
    await wait_state(sup, "app:svc", State.FAILED)
    svc = sup.services["app:svc"]
    assert svc.delays == pytest.approx([0.01, 0.02, 0.03])
    assert svc.restarts == 3
    assert "crash" in svc.last_error


async def test_stable_run_resets_attempts(lua):
    now = [0.0]
    sup = Supervisor(lua.node, clock=lambda: now[0])
    lua.process("app:slow_crash", """
    local time = require("time")
    function main() time.sleep("5ms"); error("late crash") end""", modules=["time"])
    spec = ServiceSpec("app:svc", "app:slow_crash", HOST, [],
                       lifecycle(initial_delay="1ms", backoff_factor=10, jitter=0, max_attempts=2))
    # every run "lasts" 10s on the fake clock, more than stable_threshold (5s): never gives up
    orig_spawn = lua.node.spawn

    def spawn(*a, **kw):
        now[0] += 10
        return orig_spawn(*a, **kw)
    lua.node.spawn = spawn
    sup.add(spec)
    await asyncio.sleep(0.2)
    svc = sup.services["app:svc"]
    assert svc.restarts >= 3 and svc.state != State.FAILED
    assert svc.delays == pytest.approx([0.001] * len(svc.delays))
    await sup.stop_all()


async def test_normal_exit_is_not_restarted(lua):
    sup = Supervisor(lua.node)
    sup.add(ServiceSpec("app:svc", "app:oneshot", HOST, [], lifecycle(initial_delay="1ms")))
    await wait_state(sup, "app:svc", State.EXITED)
    await asyncio.sleep(0.05)
    assert sup.services["app:svc"].restarts == 0
    assert sup.services["app:svc"].state == State.EXITED


async def test_stop_cancels_gracefully(lua):
    sup = Supervisor(lua.node)
    sup.add(ServiceSpec("app:svc", "app:server", HOST, [], lifecycle()))
    await wait_state(sup, "app:svc", State.RUNNING)
    pid = sup.services["app:svc"].pid
    assert lua.engine.has_process(pid)
    await sup.stop("app:svc")
    assert sup.services["app:svc"].state == State.STOPPED
    assert not lua.engine.has_process(pid)


async def test_stop_terminates_after_stop_timeout(lua):
    sup = Supervisor(lua.node)
    sup.add(ServiceSpec("app:svc", "app:stubborn", HOST, [], lifecycle()))
    await wait_state(sup, "app:svc", State.RUNNING)
    pid = sup.services["app:svc"].pid
    await asyncio.wait_for(sup.stop("app:svc"), 2)
    assert not lua.engine.has_process(pid)


async def test_stop_all_in_reverse_start_order(lua):
    sup = Supervisor(lua.node)
    stopped = []
    sup.on_state(lambda sid, st: st == State.STOPPING and stopped.append(sid))
    for name in ("a", "b", "c"):
        sup.add(ServiceSpec(f"app:{name}", "app:server", HOST, [], lifecycle()))
    await asyncio.sleep(0.02)
    await sup.stop_all()
    assert stopped == ["app:c", "app:b", "app:a"]


async def test_requires_waits_for_the_required_service_to_run(lua):
    sup = Supervisor(lua.node)
    needs = Lifecycle.model_validate({"auto_start": True, "stop_timeout": "200ms", "requires": ["app:first"],
                                      "start_timeout": "5s"})
    sup.add(ServiceSpec("app:second", "app:server", HOST, [], needs))
    await asyncio.sleep(0.1)
    assert sup.services["app:second"].state == State.STARTING and sup.services["app:second"].pid is None
    sup.add(ServiceSpec("app:first", "app:server", HOST, [], lifecycle()))
    await wait_state(sup, "app:second", State.RUNNING)
    await sup.stop_all()


async def test_start_timeout_bounds_the_wait_and_fails_like_a_crash(lua):
    sup = Supervisor(lua.node)
    needs = Lifecycle.model_validate({"auto_start": True, "requires": ["app:never"], "start_timeout": "50ms",
                                      "restart": {"max_attempts": 1, "initial_delay": "10ms", "jitter": 0}})
    sup.add(ServiceSpec("app:svc", "app:server", HOST, [], needs))
    await wait_state(sup, "app:svc", State.FAILED)
    assert sup.services["app:svc"].last_error == "required app:never not running within start_timeout 0.05s"


async def test_stopping_a_service_that_waits_for_its_requirements_is_prompt(lua):
    sup = Supervisor(lua.node)
    needs = Lifecycle.model_validate({"auto_start": True, "requires": ["app:never"], "start_timeout": "1h"})
    sup.add(ServiceSpec("app:svc", "app:server", HOST, [], needs))
    await asyncio.sleep(0.05)
    await asyncio.wait_for(sup.stop("app:svc"), 2)
    assert sup.services["app:svc"].state == State.STOPPED
