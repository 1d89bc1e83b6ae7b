"""websocket_relay and sse_relay over real HTTP: a handler hands the connection to a process, the
connection is a pid that processes send to, monitor and see exit; the target's exit closes it."""
from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - {name: kv, kind: store.memory}
  - name: web
    kind: http.service
    addr: 127.0.0.1:0
    lifecycle: {auto_start: true}
  - name: ws
    kind: http.router
    meta: {server: web}
    prefix: /ws
    post_middleware: [websocket_relay]
    post_options: {wsrelay.allowed.origins: "https://good.example"}
  - name: sse
    kind: http.router
    meta: {server: web}
    prefix: /sse
    post_middleware: [sse_relay]
  - name: chat
    kind: process.lua
    method: main
    modules: [store, time]
    source: |
      local store = require("store")
      local function note(k, v) local s = store.get("app:kv"); s:set(k, v); s:release() end
      return {main = function()
        local inbox = process.inbox()
        while true do
          local msg = inbox:receive()
          local topic, data = msg:topic(), msg:payload():data()
          if topic == "ws.join" then
            process.send(data.client_pid, "welcome", {user = data.metadata.user})
          elseif topic == "ws.message" then
            if data == "quit" then return "quit" end
            if data == "bye" then process.send(msg:from(), "ws.close", "see you") end
            process.send(msg:from(), "echo", string.upper(data))
          elseif topic == "ws.leave" then
            note("left", data.client_pid)
          end
        end
      end}
  - name: ws_open
    kind: function.lua
    method: main
    modules: [http, json]
    source: |
      local http, json = require("http"), require("json")
      return {main = function()
        local pid = process.spawn("app:chat", "app:procs")
        http.response():set_header("X-WS-Relay", json.encode({
          target_pid = tostring(pid), metadata = {user = http.request():query("user")}}))
      end}
  - {name: ws_open.ep, kind: http.endpoint, meta: {router: ws}, method: GET, path: /chat, func: ws_open}
  - name: ticker
    kind: process.lua
    method: main
    modules: []
    source: |
      return {main = function()
        local msg = process.inbox():receive()
        local data = msg:payload():data()
        process.send(data.client_pid, "sse.message", {n = 1, user = data.metadata.user})
        process.send(data.client_pid, "sse.message", {n = 2})
        return "done"
      end}
  - name: sse_open
    kind: function.lua
    method: main
    modules: [http, json]
    source: |
      local http, json = require("http"), require("json")
      return {main = function()
        local conf = {metadata = {user = "ann"}}
        if http.request():query("mode") ~= "detached" then
          conf.target_pid = tostring(process.spawn("app:ticker", "app:procs"))
        end
        http.response():set_header("X-SSE-Relay", json.encode(conf))
      end}
  - {name: sse_open.ep, kind: http.endpoint, meta: {router: sse}, method: GET, path: /events, func: sse_open}
  - name: push
    kind: function.lua
    method: main
    modules: [http]
    source: |
      local http = require("http")
      return {main = function()
        local req = http.request()
        process.send(req:query("pid"), req:query("topic"), {text = req:query("text")})
      end}
  - {name: push.ep, kind: http.endpoint, meta: {router: sse}, method: POST, path: /push, func: push}
"""


@pytest.fixture
async def relay_app(http_app):
    http_app.write("_index.yaml", INDEX)
    await http_app.start()
    return http_app


async def stored(rt, key: str):
    from wippy.data import Resources
    from wippy.engine.errors import WippyError
    for _ in range(300):
        try:
            return await Resources.of(rt.node).store("app:kv").get(key)
        except WippyError:
            await asyncio.sleep(0.01)
    return None


async def sse_events(resp: aiohttp.ClientResponse, n: int) -> list[tuple[str, dict]]:
    events, name = [], None
    async with asyncio.timeout(10):
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                events.append((name, json.loads(line[6:])))
                if len(events) == n:
                    return events
    return events


async def test_websocket_relay_round_trip_and_leave(relay_app):
    rt = relay_app.runtime
    ws = await relay_app.session.ws_connect(relay_app.url("/ws/chat?user=ann"), origin="https://good.example")
    assert json.loads((await ws.receive(timeout=5)).data) == {"topic": "welcome", "data": {"user": "ann"}}
    await ws.send_str("hello")
    assert json.loads((await ws.receive(timeout=5)).data) == {"topic": "echo", "data": "HELLO"}

    # the connection is a pid: a Python watcher monitoring it sees it exit when the client goes
    from wippy.http.relay import RelayHost
    [client_pid] = RelayHost.of(rt.node).conns
    exits: list[dict] = []
    watcher = rt.node.control_pid(exits.append)
    rt.node.monitor(client_pid, watcher, True)
    await ws.close()
    assert await stored(rt, "left") == client_pid
    assert [e["kind"] for e in exits] == ["pid.exit"] and exits[0]["from"] == client_pid


async def test_websocket_relay_closes_on_ws_close_and_when_the_target_exits(relay_app):
    ws = await relay_app.session.ws_connect(relay_app.url("/ws/chat"), origin="https://good.example")
    await ws.receive(timeout=5)                       # welcome
    await ws.send_str("bye")
    msg = await ws.receive(timeout=5)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.extra == "see you"

    ws = await relay_app.session.ws_connect(relay_app.url("/ws/chat"), origin="https://good.example")
    await ws.receive(timeout=5)
    await ws.send_str("quit")                         # the target process returns
    assert (await ws.receive(timeout=5)).type == aiohttp.WSMsgType.CLOSE


async def test_websocket_relay_refuses_other_origins(relay_app):
    with pytest.raises(aiohttp.WSServerHandshakeError) as e:
        await relay_app.session.ws_connect(relay_app.url("/ws/chat"), origin="https://evil.example")
    assert e.value.status == 403


async def test_sse_relay_managed_stream_ends_with_done_when_the_target_exits(relay_app):
    async with relay_app.session.get(relay_app.url("/sse/events")) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        events = await sse_events(resp, 3)
    assert events == [("sse.message", {"n": 1, "user": "ann"}), ("sse.message", {"n": 2}),
                      ("done", {"reason": "target exited"})]


async def test_sse_relay_detached_stream_takes_messages_sent_to_its_pid(relay_app):
    async with relay_app.session.get(relay_app.url("/sse/events?mode=detached")) as resp:
        [(name, ready)] = await sse_events(resp, 1)
        assert name == "ready" and ready["message_topic"] == "sse.message"
        pid = ready["stream_pid"]
        for topic, text in [("other.topic", "filtered"), ("sse.message", "hi")]:
            async with relay_app.session.post(relay_app.url("/sse/push"),
                                              params={"pid": pid, "topic": topic, "text": text}) as r:
                assert r.status == 200
        assert await sse_events(resp, 1) == [("sse.message", {"text": "hi"})]
        async with relay_app.session.post(relay_app.url("/sse/push"),
                                          params={"pid": pid, "topic": "sse.close", "text": "x"}) as r:
            assert r.status == 200
        async with asyncio.timeout(5):
            assert (await resp.content.read()).strip() == b""     # the stream ended
