"""Live change of HTTP entries: routes swap in place without a listener restart or a dropped
request in flight; an address change rebinds; a port in use rejects the service."""
from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from wippy.http.manager import HttpManager
from wippy.registry import ApplyError, Entry, Op
from wippy.runtime import Runtime

from .conftest import free_port

SLOW = """\
local http = require("http")
local time = require("time")
return {handler = function()
  local req = http.request()
  time.sleep(req:query("sleep") or "1ms")
  http.response():write(req:path() .. " v1")
end}
"""


def fn(name: str, body: str) -> Entry:
    return Entry(f"app:{name}", "function.lua", data={"source": body, "method": "handler", "modules": ["http", "time"]})


def text_fn(name: str, text: str) -> Entry:
    return fn(name, 'local http = require("http")\nreturn {handler = function() http.response():write("%s") end}' % text)


def endpoint(name: str, path: str, func: str, method: str = "GET", router: str = "api") -> Entry:
    return Entry(f"app:{name}", "http.endpoint", meta={"router": router},
                 data={"method": method, "path": path, "func": func})


def service(addr: str) -> Entry:
    return Entry("app:web", "http.service", data={"addr": addr, "lifecycle": {"auto_start": True}})


ROUTER = Entry("app:api", "http.router", meta={"server": "web"}, data={"prefix": "/api"})


@pytest.fixture
async def live():
    rt = Runtime(None, node_name="test", persist_history=False)
    await rt.start()
    http = HttpManager.of(rt)
    await rt.registry.apply([Op.create(service("127.0.0.1:0")), Op.create(ROUTER), Op.create(fn("slow", SLOW)),
                             Op.create(endpoint("slow.get", "/slow", "slow"))])
    session = aiohttp.ClientSession()
    yield rt, http, session
    await session.close()
    await http.close()
    await rt.stop()


def url(http: HttpManager, path: str) -> str:
    return f"http://127.0.0.1:{http.servers['app:web'].port}{path}"


async def test_add_change_remove_endpoint_in_place(live):
    rt, http, s = live
    server = http.servers["app:web"]
    port = server.port
    await rt.registry.apply([Op.create(text_fn("a", "A1")), Op.create(endpoint("a.get", "/items/{id}", "a"))])
    async with s.get(url(http, "/api/items/7")) as r:
        assert r.status == 200 and await r.text() == "A1"
    # change the endpoint's path and method
    await rt.registry.apply([Op.update(endpoint("a.get", "/things/{id}", "a", method="POST"))])
    async with s.get(url(http, "/api/items/7")) as r:
        assert r.status == 404
    async with s.post(url(http, "/api/things/7")) as r:
        assert r.status == 200
    # move the router's prefix
    await rt.registry.apply([Op.update(Entry("app:api", "http.router", meta={"server": "web"}, data={"prefix": "/v2"}))])
    async with s.post(url(http, "/v2/things/7")) as r:
        assert r.status == 200
    await rt.registry.apply([Op.delete("app:a.get")])
    async with s.post(url(http, "/v2/things/7")) as r:
        assert r.status == 404
    assert http.servers["app:web"] is server and server.port == port   # same listener throughout


async def test_in_flight_request_survives_route_change(live):
    rt, http, s = live
    inflight = asyncio.create_task(s.get(url(http, "/api/slow?sleep=400ms")))
    await asyncio.sleep(0.15)
    await rt.registry.apply([Op.delete("app:slow.get"), Op.create(text_fn("b", "B")),
                             Op.create(endpoint("b.get", "/b", "b"))])
    async with s.get(url(http, "/api/slow")) as r:
        assert r.status == 404
    async with s.get(url(http, "/api/b")) as r:
        assert await r.text() == "B"
    r = await inflight
    assert r.status == 200 and await r.text() == "/api/slow v1"
    r.release()


async def test_duplicate_route_and_missing_router_are_rejected(live):
    rt, http, s = live
    version = rt.registry.version
    with pytest.raises(ApplyError) as e:
        await rt.registry.apply([Op.create(endpoint("dup", "/slow", "slow"))])
    assert "GET /api/slow is already served by app:slow.get" in str(e.value)
    with pytest.raises(ApplyError) as e:
        await rt.registry.apply([Op.create(endpoint("lost", "/x", "slow", router="nope"))])
    assert "app:lost" in str(e.value) and "app:nope" in str(e.value)
    with pytest.raises(ApplyError) as e:
        await rt.registry.apply([Op.create(endpoint("bad", "/x/{rest...}/y", "slow"))])
    assert "must be the last part" in str(e.value)
    assert rt.registry.version == version
    async with s.get(url(http, "/api/slow")) as r:
        assert r.status == 200


async def test_port_in_use_rejects_service_and_app_keeps_serving(live):
    rt, http, s = live
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ApplyError) as e:
            await rt.registry.apply([Op.create(Entry("app:other", "http.service", data={"addr": f"127.0.0.1:{port}", "lifecycle": {"auto_start": True}}))])
        assert "app:other" in str(e.value) and "address already in use" in str(e.value).lower()
        assert "app:other" not in http.servers
        # an address change onto the busy port is refused too, and the old address stays
        old = http.servers["app:web"].port
        with pytest.raises(ApplyError):
            await rt.registry.apply([Op.update(service(f"127.0.0.1:{port}"))])
        assert http.servers["app:web"].port == old
    async with s.get(url(http, "/api/slow")) as r:
        assert r.status == 200


async def test_rejected_changeset_closes_the_listener_it_opened(live):
    rt, http, s = live
    port = free_port()
    with pytest.raises(ApplyError):
        await rt.registry.apply([Op.create(Entry("app:w2", "http.service", data={"addr": f"127.0.0.1:{port}", "lifecycle": {"auto_start": True}})),
                                 Op.create(Entry("app:r2", "http.router", meta={"server": "w2"}, data={})),
                                 Op.create(endpoint("e2", "/slow", "slow", router="r2")),
                                 Op.create(endpoint("e3", "/slow", "slow", router="r2"))])
    assert "app:w2" not in http.servers
    with pytest.raises(aiohttp.ClientConnectionError):
        async with s.get(f"http://127.0.0.1:{port}/slow"):
            pass


async def test_changing_addr_rebinds(live):
    rt, http, s = live
    old = http.servers["app:web"].port
    new = free_port()
    inflight = asyncio.create_task(s.get(url(http, "/api/slow?sleep=300ms")))
    await asyncio.sleep(0.1)
    await rt.registry.apply([Op.update(service(f"127.0.0.1:{new}"))])
    assert http.servers["app:web"].port == new
    async with s.get(f"http://127.0.0.1:{new}/api/slow") as r:
        assert r.status == 200
    async with aiohttp.ClientSession() as fresh:   # a new connection to the old port is refused
        with pytest.raises(aiohttp.ClientConnectionError):
            async with fresh.get(f"http://127.0.0.1:{old}/api/slow"):
                pass
    r = await inflight
    assert r.status == 200
    r.release()
