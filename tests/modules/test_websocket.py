"""websocket module (lua/http/websocket.md): a client against a real aiohttp WebSocket server."""
from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web


@pytest.fixture
async def server():
    seen = {}

    async def handler(request):
        ws = web.WebSocketResponse(protocols=["graphql-ws"], compress=True)
        await ws.prepare(request)
        seen["auth"] = request.headers.get("Authorization")
        seen["extensions"] = request.headers.get("Sec-WebSocket-Extensions")
        seen["compress"] = ws.compress
        seen["protocol"] = ws.ws_protocol
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                if msg.data == "close-me":
                    await ws.close(code=4001, message=b"bye")
                    break
                if msg.data == "burst":
                    for i in range(50):
                        await ws.send_str(f"m{i}")
                    continue
                await ws.send_str("echo:" + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(b"\x00" + msg.data)
        seen["close_code"] = ws.close_code
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/ws", seen
    await runner.cleanup()


async def run(app, body: str, *args):
    return await app.run("local websocket = require('websocket')\nlocal time = require('time')\n"
                         "return function(url, ...)\n" + body + "\nend", *args, modules=["websocket", "time"])


async def test_text_binary_and_close(app, server):
    url, seen = server
    res = await run(app, """
    local client, err = websocket.connect(url, {
        headers = {["Authorization"] = "Bearer t"}, protocols = {"graphql-ws"},
        dial_timeout = "5s", read_timeout = 5000, compression = websocket.COMPRESSION.CONTEXT_TAKEOVER})
    assert(err == nil, tostring(err))
    local ch = client:channel()
    assert(client:send("hello") == true)
    local m1, ok1 = ch:receive()
    client:send("\\1\\255\\2", websocket.BINARY)
    local m2 = client:receive():receive()
    assert(client:ping() == true)
    client:close(websocket.CLOSE_CODES.NORMAL, "Session ended")
    local m3, ok3 = ch:receive()
    return {m1.type, m1.data, ok1, m2.type, #m2.data, m2.data:byte(1), m2.data:byte(3), m3 == nil, ok3}
    """, server[0])
    assert res == ["text", "echo:hello", True, "binary", 4, 0, 255, True, False]
    assert seen["auth"] == "Bearer t" and seen["protocol"] == "graphql-ws" and seen["close_code"] == 1000


async def test_server_close_ends_channel_and_select(app, server):
    res = await run(app, """
    local client = websocket.connect(url)
    local ch = client:channel()
    local timeout = time.after("5s")
    client:send("close-me")
    local r = channel.select {ch:case_receive(), timeout:case_receive()}
    local _, err = client:send("after")
    return {r.channel == ch, r.ok, err ~= nil and err:kind()}
    """, server[0])
    assert res == [True, False, "Internal"]


async def test_backpressure_keeps_order(app, server):
    res = await run(app, """
    local client = websocket.connect(url, {channel_capacity = 2})
    client:send("burst")
    local ch = client:channel()
    local got = {}
    for i = 1, 50 do got[i] = ch:receive().data end
    client:close()
    return {got[1], got[50], #got}
    """, server[0])
    assert res == ["m0", "m49", 50]


@pytest.mark.parametrize("url, opts, kind, retryable", [
    ("http://example.com", "nil", "Invalid", False),
    ("ws://127.0.0.1:1/ws", "nil", "Internal", True),
    ("ws://127.0.0.1:1/ws", "{compression = 3}", "Invalid", False),
    ("ws://127.0.0.1:1/ws", "{compression = 1, compression_threshold = -1}", "Invalid", False),
    ("ws://127.0.0.1:1/ws", "{compression = 1, compression_threshold = 200 * 1024 * 1024}", "Invalid", False),
    ("ws://127.0.0.1:1/ws", "{channel_capacity = 0}", "Invalid", False),
    ("ws://127.0.0.1:1/ws", '{dial_timeout = "soon"}', "Invalid", False),
])
async def test_connect_errors(app, url, opts, kind, retryable):
    res = await run(app, f"local c, err = websocket.connect({url!r}, {opts}); return {{c == nil, err:kind(), err:retryable() or false}}")
    assert res == [True, kind, retryable]


@pytest.fixture
async def raw_server():
    """A WebSocket server written on raw sockets that agrees to permessage-deflate and records
    each data frame as it came on the wire, until the client's close: (compressed?, payload length)."""
    import asyncio
    import base64
    import hashlib
    frames: list = []
    done = asyncio.Event()

    async def serve(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key"))
        accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n")
        await writer.drain()
        while True:
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(await reader.readexactly(2), "big")
            elif n == 127:
                n = int.from_bytes(await reader.readexactly(8), "big")
            await reader.readexactly(4 + n)          # mask and payload
            if b0 & 0x0F == 8:
                break
            if b0 & 0x0F in (1, 2):
                frames.append((bool(b0 & 0x40), n))
        done.set()
        writer.close()

    srv = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield f"ws://127.0.0.1:{port}/ws", frames, done
    srv.close()


@pytest.mark.parametrize("mode, second_is_smaller", [("CONTEXT_TAKEOVER", True), ("NO_CONTEXT", False)])
async def test_compression_modes_on_the_wire(app, raw_server, mode, second_is_smaller):
    """CONTEXT_TAKEOVER: the second of two equal messages refers back to the first (a few bytes);
    NO_CONTEXT: each message is deflated on its own (both frames the same size)."""
    url, frames, done = raw_server
    import asyncio
    await run(app, f"""
    local client = assert(websocket.connect(url, {{compression = websocket.COMPRESSION.{mode}}}))
    local text = string.rep("wippy websocket compression ", 40)
    assert(client:send(text) and client:send(text))
    time.sleep("100ms")
    client:close()
    """, url)
    await asyncio.wait_for(done.wait(), 5)
    (c1, n1), (c2, n2) = frames
    assert c1 and c2 and n1 < 200
    assert (n2 < n1) is second_is_smaller and (n2 == n1) is not second_is_smaller


async def test_compression_threshold_leaves_smaller_messages_uncompressed(app, raw_server, server):
    url, frames, done = raw_server
    import asyncio
    await run(app, """
    local client = assert(websocket.connect(url, {compression = websocket.COMPRESSION.CONTEXT_TAKEOVER,
                                                  compression_threshold = 100}))
    local big = string.rep("wippy websocket compression ", 40)
    assert(client:send(string.rep("s", 99)))                   -- under the threshold: as is
    assert(client:send(big))                                   -- over it: deflated
    assert(client:send(string.rep("b", 60), websocket.BINARY))
    assert(client:send(string.rep("t", 100)))                  -- at it: deflated
    assert(client:send(big))                                   -- the context still holds after plain frames
    client:close()
    """, url)
    await asyncio.wait_for(done.wait(), 5)
    assert frames[0] == (False, 99) and frames[2] == (False, 60)
    assert frames[1][0] and frames[1][1] < 200 and frames[3][0] and frames[3][1] < 100
    assert frames[4][0] and frames[4][1] < frames[1][1]
    # a real server reads both kinds of frame on one connection
    res = await run(app, """
    local client = assert(websocket.connect(url, {compression = websocket.COMPRESSION.CONTEXT_TAKEOVER,
                                                  compression_threshold = 10}))
    local out = {}
    for _, text in ipairs({"hi", string.rep("long message ", 20), "ok"}) do
      client:send(text)
      out[#out + 1] = client:channel():receive().data
    end
    client:close()
    return out
    """, server[0])
    assert res == ["echo:hi", "echo:" + "long message " * 20, "echo:ok"]


async def test_permission_denied(make_app, server):
    app = make_app()
    app.engine.S.strict = True
    res = await run(app, """
    local c, err = websocket.connect(url)
    return {c == nil, err:kind(), errors.is(err, errors.PERMISSION_DENIED)}
    """, server[0])
    assert res == [True, "PermissionDenied", True]


async def test_constants(app):
    res = await run(app, """return {websocket.TEXT, websocket.BINARY, websocket.TYPE_TEXT, websocket.TYPE_CLOSE,
        websocket.COMPRESSION.NO_CONTEXT, websocket.CLOSE_CODES.INTERNAL_ERROR, websocket.CLOSE_CODES.TLS_HANDSHAKE}""", "x")
    assert res == [1, 2, "text", "close", 2, 1011, 1015]


async def test_no_context_asks_the_server_for_no_context_takeover(app, server):
    """NO_CONTEXT offers permessage-deflate with neither side keeping its context between
    messages (server_no_context_takeover, client_no_context_takeover); a real server agrees and
    compressed messages go both ways. CONTEXT_TAKEOVER offers plain permessage-deflate."""
    url, seen = server
    res = await run(app, """
    local client = assert(websocket.connect(url, {compression = websocket.COMPRESSION.NO_CONTEXT}))
    local text = string.rep("wippy websocket compression ", 40)
    local out = {}
    for i = 1, 2 do
      assert(client:send(text))
      out[i] = client:channel():receive().data
    end
    client:close()
    return out
    """, url)
    assert res == ["echo:" + "wippy websocket compression " * 40] * 2
    offer = [p.strip() for p in seen["extensions"].split(";")]
    assert offer[0] == "permessage-deflate"
    assert "server_no_context_takeover" in offer and "client_no_context_takeover" in offer
    assert seen["compress"]
    await run(app, """
    local client = assert(websocket.connect(url, {compression = websocket.COMPRESSION.CONTEXT_TAKEOVER}))
    client:send("x"); client:channel():receive(); client:close()
    """, url)
    assert "no_context_takeover" not in seen["extensions"] and seen["compress"]


async def test_a_connection_left_open_closes_when_its_process_ends(app, server):
    url, seen = server
    res = await run(app, """
    local client = websocket.connect(url)
    client:send("hello")
    return client:receive():receive().data
    """, url)
    assert res == "echo:hello"
    for _ in range(100):        # the process has ended: the server sees the client go away
        if "close_code" in seen:
            break
        await asyncio.sleep(0.05)
    assert seen.get("close_code") is not None
