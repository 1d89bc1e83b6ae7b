"""Python side of the `websocket` module: a client on aiohttp. Each connection has a reader
task that moves incoming messages into the Lua channel of the connection, pausing while
the channel holds `channel_capacity` unread messages."""
from __future__ import annotations

import asyncio
import itertools

import aiohttp
from aiohttp.http import WebSocketWriter

from ..durations import parse_duration
from ..engine.errors import INTERNAL, INVALID, WippyError

MAX_READ_LIMIT = 128 * 1024 * 1024
MAX_THRESHOLD = 100 * 1024 * 1024
TEXT, BINARY = 1, 2    # frame opcodes


def _timeout(opts: dict, name: str) -> float | None:
    v = opts.get(name)
    if v is None:
        return None
    try:
        # numbers are milliseconds, strings Go durations
        return v / 1000 if isinstance(v, (int, float)) and not isinstance(v, bool) else parse_duration(v)
    except ValueError as e:
        raise WippyError(INVALID, f"{name}: {e}") from None


class Connection:
    def __init__(self, engine, ws, session, channel, capacity: int, read_timeout: float | None,
                 write_timeout: float | None):
        self.engine = engine
        self.ws = ws
        self.session = session
        self.channel = channel
        self.capacity = capacity
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self.frame_compress: int | None = None
        self.threshold = 0                           # compression_threshold
        self.plain: WebSocketWriter | None = None    # writes messages under it uncompressed
        self.reader = asyncio.ensure_future(self._read())

    def _queued(self) -> int:
        ch = self.channel
        return int(ch.bt - ch.bh + 1)

    async def _read(self) -> None:
        S = self.engine.S
        try:
            while True:
                # the channel is a Lua table drained by Lua code: no event says it has room
                while self._queued() >= self.capacity and not self.channel.closed:  # noqa: ASYNC110
                    await asyncio.sleep(0.005)
                if self.channel.closed:
                    break
                msg = await asyncio.wait_for(self.ws.receive(), self.read_timeout)
                if msg.type == aiohttp.WSMsgType.TEXT:
                    value = {"type": "text", "data": msg.data}
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    value = {"type": "binary", "data": bytes(msg.data)}
                elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING,
                                  aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                    break
                else:
                    continue
                if self.engine.closed or not S.channel_push(self.channel, self.engine.to_lua(value)):
                    break
                self.engine.kick()
        except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError):
            pass
        finally:
            await self._shutdown()

    async def _shutdown(self) -> None:
        if not self.ws.closed:
            await self.ws.close()
        await self.session.close()
        if not self.engine.closed:
            self.channel.close(self.channel)
            self.engine.kick()

    async def _guard(self, coro):
        if self.ws.closed:
            coro.close()
            raise WippyError(INTERNAL, "connection is closed")
        try:
            await asyncio.wait_for(coro, self.write_timeout)
        except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError, RuntimeError) as e:
            raise WippyError(INTERNAL, f"websocket write failed: {type(e).__name__}: {e}", True) from None
        return True


# NO_CONTEXT asks for what Go's CompressionNoContextTakeover does: neither side keeps its deflate
# context between messages. aiohttp writes the extension offer itself (without these two
# parameters) after the caller's headers, so the offer is rewritten as the request starts.
NO_CONTEXT_OFFER = "permessage-deflate; client_max_window_bits; server_no_context_takeover; client_no_context_takeover"


def _no_context_session() -> aiohttp.ClientSession:
    async def offer(session, ctx, params: aiohttp.TraceRequestStartParams) -> None:
        if aiohttp.hdrs.SEC_WEBSOCKET_EXTENSIONS in params.headers:
            params.headers[aiohttp.hdrs.SEC_WEBSOCKET_EXTENSIONS] = NO_CONTEXT_OFFER

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(offer)
    return aiohttp.ClientSession(trace_configs=[trace])


def install(engine):
    conns: dict[int, Connection] = {}
    ids = itertools.count(1)

    async def connect(url, opts, channel):
        opts = engine.py(opts) if opts is not None else {}
        if opts == []:
            opts = {}
        if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
            raise WippyError(INVALID, "url must start with ws:// or wss://")
        compression = opts.get("compression", 0)
        if compression not in (0, 1, 2):
            raise WippyError(INVALID, "compression must be websocket.COMPRESSION.DISABLED (0), "
                                      "CONTEXT_TAKEOVER (1) or NO_CONTEXT (2)")
        threshold = opts.get("compression_threshold") or 0
        if not isinstance(threshold, int) or isinstance(threshold, bool) or not 0 <= threshold <= MAX_THRESHOLD:
            raise WippyError(INVALID, "compression_threshold must be a number of bytes from 0 to 100MB")
        read_limit = opts.get("read_limit", 0) or 4 * 1024 * 1024
        if not isinstance(read_limit, int) or not 0 < read_limit <= MAX_READ_LIMIT:
            raise WippyError(INVALID, "read_limit must be between 0 and 128MB")
        capacity = opts.get("channel_capacity", 100)
        if not isinstance(capacity, int) or not 1 <= capacity <= 10000:
            raise WippyError(INVALID, "channel_capacity must be between 1 and 10000")
        headers = opts.get("headers") or {}
        protocols = opts.get("protocols") or []
        if not isinstance(headers, dict) or not isinstance(protocols, list):
            raise WippyError(INVALID, "headers must be a table of strings, protocols a list")
        dial = _timeout(opts, "dial_timeout")
        session = _no_context_session() if compression == 2 else aiohttp.ClientSession()
        try:
            ws = await asyncio.wait_for(session.ws_connect(
                url, headers={str(k): str(v) for k, v in headers.items()}, protocols=[str(p) for p in protocols],
                compress=15 if compression else 0, max_msg_size=read_limit, autoping=True), dial)
        except (asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
            await session.close()
            raise WippyError(INTERNAL, f"websocket connection to {url} failed: {type(e).__name__}: {e}", True) from None
        h = next(ids)
        # the connection outlives this call (and may outlive the calling process): it keeps
        # the channel through the engine's main state (Engine.keep)
        conns[h] = c = Connection(engine, ws, session, engine.keep(channel), capacity, _timeout(opts, "read_timeout"),
                                  _timeout(opts, "write_timeout"))
        # NO_CONTEXT: a per-frame compress level makes aiohttp deflate that message with a fresh
        # compressor, so no message refers back to an earlier one (only once the server agreed)
        c.frame_compress = 15 if compression == 2 and ws.compress else None
        if threshold and ws.compress:
            # RFC 7692 lets a sender leave any message uncompressed (RSV1 clear), but aiohttp's
            # writer deflates every data frame of a compressed connection: messages under the
            # threshold go through a second, uncompressed writer on the same transport
            w = ws._writer
            c.threshold, c.plain = threshold, WebSocketWriter(w.protocol, w.transport, use_mask=True)
        return h

    def conn(h) -> Connection:
        c = conns.get(h)
        if c is None:
            raise WippyError(INTERNAL, "invalid connection id")
        return c

    async def send(h, data, latin1, binary):
        c = conn(h)
        if latin1 and not binary:
            raise WippyError(INVALID, "text messages must be valid UTF-8 (send binary data as websocket.BINARY)")
        payload = data.encode("latin-1" if latin1 else "utf-8")
        if c.plain is not None and len(payload) < c.threshold:
            return await c._guard(c.plain.send_frame(payload, BINARY if binary else TEXT))
        if binary:
            return await c._guard(c.ws.send_bytes(payload, c.frame_compress))
        return await c._guard(c.ws.send_str(data, c.frame_compress))

    async def ping(h):
        c = conn(h)
        return await c._guard(c.ws.ping())

    async def close(h, code, reason):
        c = conns.pop(h, None)
        if c is None:
            return True
        if not c.ws.closed:
            try:
                await asyncio.wait_for(c.ws.close(code=code, message=reason.encode()), 5)
            except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError):
                pass
        await c.reader
        return True

    def abandon(h) -> None:
        """The process that opened it ended without closing it (called from its exit)."""
        c = conns.pop(h, None)
        if c is not None and not c.ws.closed:
            asyncio.ensure_future(c.ws.close(code=1001, message=b"process ended"))

    return {"connect": connect, "send": send, "ping": ping, "close": close, "abandon": abandon}
