"""Hostile HTTP clients: slow headers (slowloris), slow bodies and connection floods end at the
service's read timeout and connection cap, while ordinary requests keep being answered."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.http.conftest import free_port, http_app  # noqa: F401 - the fixture

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {{name: web, kind: http.service, addr: "127.0.0.1:{port}", timeouts: {{read: {read}}}, max_connections: {cap}, lifecycle: {{auto_start: true}}}}
  - {{name: api, kind: http.router, meta: {{server: web}}, prefix: /}}
  - {{name: ping, kind: function.lua, source: file://ping.lua, method: handler, modules: [http]}}
  - {{name: ping.get, kind: http.endpoint, meta: {{router: api}}, method: GET, path: /ping, func: ping}}
  - {{name: ping.post, kind: http.endpoint, meta: {{router: api}}, method: POST, path: /ping, func: ping}}
"""

PING = """\
local http = require("http")
return {handler = function()
  local req, res = http.request(), http.response()
  if req:method() == "POST" then
    local _, err = req:body()    -- the body is read here, under the service's read timeout
    if err then res:set_status(408) return res:write(err:kind() .. ": " .. err:message()) end
  end
  res:write("pong")
end}
"""


async def start(http_app, cap: int, read: str = "1s") -> int:
    port = free_port()
    http_app.write("_index.yaml", INDEX.format(port=port, cap=cap, read=read))
    http_app.write("ping.lua", PING)
    await http_app.start()
    assert http_app.runtime.errors == []
    return port


async def ping(http_app, port: int) -> float:
    t = time.perf_counter()
    async with http_app.session.get(f"http://127.0.0.1:{port}/ping") as r:
        assert r.status == 200 and await r.text() == "pong"
    return (time.perf_counter() - t) * 1000


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    try:
        return await asyncio.wait_for(reader.read(), seconds) == b"" or True
    except (asyncio.TimeoutError, ConnectionError):
        return False


async def test_slow_headers_are_cut_at_the_read_timeout_and_others_are_served(http_app):
    port = await start(http_app, cap=1000)
    conns = []
    for _ in range(200):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /ping HTTP/1.1\r\nHost: x\r\nX-Slow: ")   # never finishes its headers
        conns.append((reader, writer))
    latencies = [await ping(http_app, port) for _ in range(5)]
    t = time.perf_counter()
    closed = await asyncio.gather(*(closed_within(r, 15) for r, _ in conns))
    waited = time.perf_counter() - t
    print(f"\nslowloris: 200 connections closed after {waited:.2f}s; pings {max(latencies):.1f}ms max")
    assert all(closed)
    await ping(http_app, port)
    for _, w in conns:
        w.close()


async def test_slow_body_read_fails_at_the_read_timeout(http_app):
    port = await start(http_app, cap=1000)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /ping HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"408" in head
    assert b"Internal: request body not received within the read timeout" in await reader.read(200)
    writer.close()
    await ping(http_app, port)


async def test_connections_over_the_cap_are_closed_and_the_service_recovers(http_app):
    port = await start(http_app, cap=20)
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(60)]
    await asyncio.sleep(0.2)
    closed = await asyncio.gather(*(closed_within(r, 0.5) for r, _ in conns))
    assert 40 <= sum(closed) <= 60       # the 40 over the cap at least (the rest time out at 1s)
    for _, w in conns:
        w.close()
    await asyncio.sleep(0.2)
    await ping(http_app, port)


async def test_max_connections_changes_live(http_app):
    port = await start(http_app, cap=20)
    before = http_app.runtime.registry.version
    http_app.write("_index.yaml", INDEX.format(port=port, cap=3, read="1s"))
    await http_app.version_after(before)
    assert http_app.http.servers["app:web"].max_connections == 3
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(6)]
    closed = await asyncio.gather(*(closed_within(r, 0.5) for r, _ in conns))
    assert sum(closed) >= 3
    for _, w in conns:
        w.close()


@pytest.mark.parametrize("cap", [0])
async def test_zero_means_no_cap(http_app, cap):
    port = await start(http_app, cap=cap, read="30s")   # no header timeout within the test either
    conns = [await asyncio.open_connection("127.0.0.1", port) for _ in range(50)]
    closed = await asyncio.gather(*(closed_within(r, 0.3) for r, _ in conns))
    assert not any(closed)
    for _, w in conns:
        w.close()
