"""`lifecycle` on the kinds the runtime runs as services in Python (http.service, queue.consumer,
process.host): auto_start, requires, start/stop timeouts, restart with backoff, security; fields
that mean nothing for a kind are refused."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from tests.data.conftest import runtime  # noqa: F401
from tests.http.conftest import free_port
from wippy.data import Resources
from wippy.engine.errors import WippyError
from wippy.http.manager import HttpManager
from wippy.kinds.models import EntryInvalid, validate_entry
from wippy.registry import Entry, Op

WAITER = "function main() process.events():receive() end"


def waiter_service(name: str, requires: list[str]) -> tuple:
    return (f"app:{name}", "process.service", {"process": "app:waiter", "host": "app:procs",
                                               "lifecycle": {"auto_start": True, "requires": requires}})


async def stored(rt, key: str, timeout: float = 5.0):
    """The value under `key` in app:kv once it is there (None if it never comes)."""
    store = Resources.of(rt.node).store("app:kv")
    for _ in range(int(timeout / 0.01)):
        try:
            return await store.get(key)
        except WippyError:
            await asyncio.sleep(0.01)
    return None


async def state_of(rt, sid: str, want: str, timeout: float = 10.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while (st := rt.supervisor.states().get(sid, {})).get("state") != want:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{sid} is {st}, not {want}")
        await asyncio.sleep(0.01)
    return st


def web_entries(port: int, lifecycle: dict, body: str = 'return {main = function() return "hi" end}') -> list:
    http_fn = ('local http = require("http")\n'
               'return {main = function() local res = http.response(); ' + body + ' end}')
    return [("app:web", "http.service", {"addr": f"127.0.0.1:{port}", "lifecycle": lifecycle}),
            ("app:api", "http.router", {"prefix": "/"}, {"server": "app:web"}),
            ("app:hello", "function.lua", {"source": http_fn, "method": "main", "modules": ["http", "time"]}),
            ("app:hello.ep", "http.endpoint", {"method": "GET", "path": "/hello", "func": "app:hello"},
             {"router": "app:api"})]


async def put(rt, *entries) -> None:
    """Create entries given as (id, kind, data[, meta])."""
    await rt.registry.apply([Op.create(Entry(e[0], e[1], e[3] if len(e) > 3 else {}, e[2])) for e in entries])


BASE = [("app:procs", "process.host", {"lifecycle": {"auto_start": True}}),
        ("app:waiter", "process.lua", {"source": WAITER, "method": "main"})]


async def test_http_service_auto_start_false_listens_once_a_service_requiring_it_starts(runtime):
    rt = runtime
    port = free_port()
    await put(rt, *BASE, *web_entries(port, {"auto_start": False}, 'res:write("hi")'))
    assert HttpManager.of(rt).servers["app:web"].addr is None
    assert rt.supervisor.states()["app:web"]["state"] == "stopped"
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as s:
            await s.get(f"http://127.0.0.1:{port}/hello")
    await put(rt, waiter_service("needs_web", ["app:web"]))
    await state_of(rt, "app:needs_web", "running")
    assert rt.supervisor.states()["app:web"]["state"] == "running"
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/hello") as r:
        assert (r.status, await r.text()) == (200, "hi")


async def test_http_service_that_cannot_bind_restarts_with_backoff_then_gives_up(runtime):
    rt = runtime
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    held.listen()
    port = held.getsockname()[1]
    try:
        restart = {"initial_delay": "20ms", "backoff_factor": 2, "jitter": 0, "max_attempts": 2}
        await put(rt, *BASE, *web_entries(port, {"auto_start": False, "restart": restart}, 'res:write("hi")'))
        await put(rt, waiter_service("needs_web", ["app:web"]))
        st = await state_of(rt, "app:web", "failed")
        assert "cannot listen on 127.0.0.1" in st["error"] and st["restarts"] == 2
        assert rt.supervisor.services["app:web"].delays == pytest.approx([0.02, 0.04])
    finally:
        held.close()


async def test_http_service_stop_timeout_lets_a_request_in_flight_finish(runtime):
    rt = runtime
    port = free_port()
    await put(rt, *BASE, *web_entries(port, {"auto_start": True, "stop_timeout": "5s"},
                                     'require("time").sleep("400ms"); res:write("finished")'))
    async with aiohttp.ClientSession() as s:
        req = asyncio.ensure_future(s.get(f"http://127.0.0.1:{port}/hello"))
        await asyncio.sleep(0.15)
        await rt.registry.apply([Op.delete(i) for i in ("app:hello.ep", "app:api", "app:web")])
        r = await req
        assert (r.status, await r.text()) == (200, "finished")


async def test_http_service_refuses_stable_threshold():
    with pytest.raises(EntryInvalid, match="lifecycle.stable_threshold has no meaning for an http.service"):
        validate_entry(Entry("app:web", "http.service", {}, {"addr": ":0", "lifecycle": {"stable_threshold": "5s"}}))


def consumer_entries(driver: tuple, consumer_lifecycle: dict, handler: str = "return true") -> list:
    return [driver,
            ("app:q", "queue.queue", {"driver": driver[0]}),
            ("app:kv", "store.memory", {}),
            ("app:handle", "function.lua", {"source": 'local store, security, time = require("store"), '
                                                      'require("security"), require("time")\n'
                                                      f"return {{main = function(body) {handler} end}}",
                                            "method": "main", "modules": ["store", "security", "time"]}),
            ("app:consume", "queue.consumer", {"queue": "app:q", "func": "app:handle", "lifecycle": consumer_lifecycle})]


async def test_consumer_whose_driver_fails_restarts_with_backoff_and_gives_up_after_max_attempts(runtime):
    rt = runtime
    dead = ("app:broker", "queue.driver.amqp", {"url": f"amqp://guest:guest@127.0.0.1:{free_port()}/"})
    restart = {"initial_delay": "30ms", "backoff_factor": 3, "max_delay": "1s", "jitter": 0, "max_attempts": 3}
    await put(rt, *consumer_entries(dead, {"auto_start": True, "restart": restart}))
    st = await state_of(rt, "app:consume", "failed")
    assert "receive failed" in st["error"] and st["restarts"] == 3
    assert rt.supervisor.services["app:consume"].delays == pytest.approx([0.03, 0.09, 0.27])


async def test_consumer_auto_start_false_consumes_once_required_and_runs_as_its_actor(runtime):
    rt = runtime
    mem = ("app:broker", "queue.driver.memory", {})
    handler = ('local s = store.get("app:kv"); s:set(body, security.actor():id()); s:release(); return true')
    await put(rt, ("app:reader", "security.policy", {"policy": {"actions": "*", "resources": "*", "effect": "allow"}}),
                 *consumer_entries(mem, {"auto_start": False, "security": {"actor": {"id": "svc:consumer"},
                                                                           "policies": ["app:reader"]}}, handler))
    q = Resources.of(rt.node).queue("app:q")
    await q.publish("job-1")
    await asyncio.sleep(0.3)
    assert (await q.info())["depth"] == 1           # not consumed: the consumer has not started
    await put(rt, *BASE, waiter_service("needs_consumer", ["app:consume"]))
    await state_of(rt, "app:consume", "running")
    assert await stored(rt, "job-1") == "svc:consumer"


async def test_consumer_stop_timeout_lets_messages_in_hand_finish(runtime):
    rt = runtime
    mem = ("app:broker", "queue.driver.memory", {})
    handler = 'time.sleep("300ms"); local s = store.get("app:kv"); s:set(body, "done"); s:release(); return true'
    await put(rt, *consumer_entries(mem, {"auto_start": True, "stop_timeout": "3s"}, handler))
    await Resources.of(rt.node).queue("app:q").publish("job-1")
    await asyncio.sleep(0.1)
    await rt.registry.apply([Op.delete("app:consume")])
    assert rt.supervisor.states()["app:consume"]["state"] == "stopping"
    assert await stored(rt, "job-1", timeout=2) == "done"       # finished, not cancelled and put back
    await state_of(rt, "app:consume", None)                     # stopped and forgotten
    info = await Resources.of(rt.node).queue("app:q").info()
    assert (info["depth"], info["inflight"]) == (0, 0)


async def test_process_host_auto_start_false_opens_when_a_service_runs_on_it(runtime):
    rt = runtime
    await put(rt, ("app:procs", "process.host", {"lifecycle": {"auto_start": False}}),
                 ("app:waiter", "process.lua", {"source": WAITER, "method": "main"}))
    assert "app:procs" not in rt.node.hosts
    with pytest.raises(WippyError, match="host app:procs not found"):
        rt.node.spawn("app:waiter", "app:procs", [])
    await put(rt, ("app:svc", "process.service", {"process": "app:waiter", "host": "app:procs",
                                                 "lifecycle": {"auto_start": True}}))
    await state_of(rt, "app:svc", "running")
    assert rt.supervisor.states()["app:procs"]["state"] == "running" and "app:procs" in rt.node.hosts
    await rt.registry.apply([Op.delete("app:svc"), Op.delete("app:procs")])
    assert "app:procs" not in rt.node.hosts


async def test_without_auto_start_nothing_starts_until_a_service_needs_it(runtime):
    """The docs' default (guides/supervision.md: auto_start false) on every supervised kind: a host,
    an HTTP server and a consumer written without `lifecycle` wait; a service that runs on the host
    and requires the other two starts them all."""
    rt = runtime
    port = free_port()
    mem = ("app:broker", "queue.driver.memory", {})
    handler = 'local s = store.get("app:kv"); s:set(body, "consumed"); s:release(); return true'
    await put(rt, ("app:procs", "process.host", {}), ("app:waiter", "process.lua", {"source": WAITER, "method": "main"}),
              *web_entries(port, {}, 'res:write("hi")'), *consumer_entries(mem, {}, handler))
    await state_of(rt, "app:consume", "stopped")    # a consumer joins the supervisor once its change is committed
    assert {sid: st["state"] for sid, st in rt.supervisor.states().items()} == {
        "app:procs": "stopped", "app:web": "stopped", "app:consume": "stopped"}
    assert "app:procs" not in rt.node.hosts and HttpManager.of(rt).servers["app:web"].addr is None
    await Resources.of(rt.node).queue("app:q").publish("job-1")
    await put(rt, waiter_service("main", ["app:web", "app:consume"]))
    await state_of(rt, "app:main", "running")
    assert all(st["state"] == "running" for st in rt.supervisor.states().values())
    assert await stored(rt, "job-1") == "consumed"
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}/hello") as r:
        assert (r.status, await r.text()) == (200, "hi")


@pytest.mark.parametrize("field,value,reason", [
    ("restart", {"max_attempts": 1}, "has no meaning for a host"),
    ("stable_threshold", "1s", "has no meaning for a host"),
    ("stop_timeout", "1s", "a removed host ends its processes at once"),
    ("security", {"actor": {"id": "x"}}, "a process runs as whoever spawned it"),
])
def test_process_host_refuses_fields_it_cannot_honour(field, value, reason):
    for kind in ("process.host", "terminal.host"):
        with pytest.raises(EntryInvalid, match=f"lifecycle.{field} .*{reason}"):
            validate_entry(Entry("app:h", kind, {}, {"lifecycle": {field: value}}))


async def test_terminal_host_hide_logs_drops_the_log_records_of_its_processes(runtime, caplog):
    rt = runtime
    talker = 'function main() require("logger"):info("said by " .. process.pid()) return 0 end'
    await put(rt, ("app:talker", "process.lua", {"source": talker, "method": "main", "modules": ["logger"]}),
              ("app:quiet", "terminal.host", {"hide_logs": True, "lifecycle": {"auto_start": True}}),
              ("app:loud", "terminal.host", {"lifecycle": {"auto_start": True}}))
    caplog.set_level("INFO", logger="wippy.lua")
    assert await rt.node.exec("app:talker", "app:quiet", []) == 0
    assert await rt.node.exec("app:talker", "app:loud", []) == 0
    said = [r.getMessage() for r in caplog.records if r.name.startswith("wippy.lua")]
    assert len(said) == 1 and "app:loud" in said[0]
    # a live change of the field applies to the next record
    await rt.registry.apply([Op.update(Entry("app:quiet", "terminal.host", {}, {"lifecycle": {"auto_start": True}}))])
    assert await rt.node.exec("app:talker", "app:quiet", []) == 0
    assert len([r for r in caplog.records if r.name.startswith("wippy.lua")]) == 2
