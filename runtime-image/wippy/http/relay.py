"""The `websocket_relay` and `sse_relay` middleware (http/websocket-relay.md, http/sse.md).

A handler answers with an `X-WS-Relay` or `X-SSE-Relay` header (JSON relay settings); the
middleware turns the request into a long-lived connection that is a process of its own: a pid
on the node's relay host, to which any process can send (the message goes to the client),
which can be monitored and linked, and which monitors its target process (the connection
closes when the target exits). Client frames (WebSocket) go to the target as messages.
"""
from __future__ import annotations

import asyncio
import base64
import fnmatch
import itertools
import json
import logging
import time
from typing import Any
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web

from ..durations import parse_duration
from ..engine.errors import CANCELED, WippyError

log = logging.getLogger("wippy.http.relay")

RELAY_HOST = "wippy:relay"
EXIT, LINK_DOWN = "pid.exit", "pid.link.down"


class RelayHost:
    """The node's host of relay pids: routes messages, monitors and links to live connections."""

    def __init__(self, node):
        self.node = node
        self.conns: dict[str, Connection] = {}
        self._seq = itertools.count(1)

    @classmethod
    def of(cls, node) -> "RelayHost":
        host = node.hosts.get(RELAY_HOST)
        if host is None:
            host = cls(node)
            node.add_host(RELAY_HOST, host)
        return host

    def new_pid(self) -> str:
        return f"{{{self.node.name}@{RELAY_HOST}|0x{next(self._seq):05x}}}"

    def deliver(self, pid: str, topic: str, frm: str | None, value: Any) -> bool:
        conn = self.conns.get(pid)
        return conn is not None and conn.on_message(topic, frm, value)

    def deliver_event(self, pid: str, event: dict) -> bool:
        conn = self.conns.get(pid)
        if conn is None:
            return False
        if event.get("kind") in (EXIT, LINK_DOWN) and event.get("from") == conn.target:
            conn.close("target exited", target_gone=True)
        return True

    def add_monitor(self, pid: str, watcher: str) -> bool:
        conn = self.conns.get(pid)
        if conn is None:
            return False
        conn.monitors.add(watcher)
        return True

    def remove_monitor(self, pid: str, watcher: str) -> None:
        conn = self.conns.get(pid)
        if conn is not None:
            conn.monitors.discard(watcher)

    def add_link(self, pid: str, other: str) -> bool:
        conn = self.conns.get(pid)
        if conn is None:
            return False
        conn.links.add(other)
        return True

    def remove_link(self, pid: str, other: str) -> None:
        conn = self.conns.get(pid)
        if conn is not None:
            conn.links.discard(other)

    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool:
        conn = self.conns.get(pid)
        if conn is not None:
            conn.close(reason or "cancelled")
        return conn is not None

    def terminate(self, pid: str, reason: str = "terminated") -> bool:
        return self.cancel(pid, None, reason)

    def close(self) -> None:
        for conn in list(self.conns.values()):
            conn.close("runtime stopping")


def allowed_origin(request: web.BaseRequest, patterns: list[str]) -> bool:
    """Same origin only without patterns; else the Origin must match one (`*` wildcards)."""
    origin = request.headers.get("Origin")
    if not origin:
        return True     # not a browser cross-origin request
    if not patterns:
        return urlsplit(origin).netloc.lower() == (request.host or "").lower()
    return any(p == "*" or fnmatch.fnmatchcase(origin.lower(), p.lower()) for p in patterns)


def _origins(options: dict[str, Any], key: str) -> list[str]:
    raw = options.get(key) or ""
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return [s.strip() for s in items if str(s).strip()]


def _settings(resp: web.StreamResponse, header: str) -> dict | None:
    raw = resp.headers.get(header)
    if raw is None:
        return None
    try:
        conf = json.loads(raw)
    except ValueError:
        raise WippyError("Invalid", f"{header}: not JSON") from None
    if not isinstance(conf, dict):
        raise WippyError("Invalid", f"{header}: a JSON object is required")
    return conf


def _duration(conf: dict, key: str, default: float | None) -> float | None:
    value = conf.get(key)
    if value in (None, ""):
        return default
    try:
        return parse_duration(value)
    except ValueError as e:
        raise WippyError("Invalid", f"relay {key}: {e}") from None


class Connection:
    """One relayed connection: its pid, target and the outgoing queue to the client."""

    join_topic = leave_topic = heartbeat_topic = ""

    def __init__(self, host: RelayHost, conf: dict, default_topic: str):
        self.host = host
        self.node = host.node
        self.pid = host.new_pid()
        self.first_target = str(conf.get("target_pid") or "") or None   # joined once the connection is up
        self.target: str | None = None
        self.topic = str(conf.get("message_topic") or default_topic)
        self.heartbeat = _duration(conf, "heartbeat_interval", 30.0)
        self.metadata = conf.get("metadata") or {}
        self.monitors: set[str] = set()
        self.links: set[str] = set()
        self.outbox: asyncio.Queue = asyncio.Queue()
        self.closed = asyncio.Event()
        self.close_reason = ""
        self.target_gone = False
        self.started = time.monotonic()
        self.messages = 0
        host.conns[self.pid] = self

    def attach(self, target: str | None) -> None:
        """Leave the current target (if any), join the new one."""
        if self.target is not None:
            self.node.monitor(self.target, self.pid, False)
            self.node.send(self.target, self.leave_topic, self.pid, self._presence())
        self.target = target
        if target is not None:
            self.node.send(target, self.join_topic, self.pid, self._presence())
            self.node.monitor(target, self.pid, True)   # a target already gone closes the connection

    def _presence(self) -> dict:
        return {"client_pid": self.pid, "metadata": self.metadata}

    def on_message(self, topic: str, frm: str | None, value: Any) -> bool:
        if self.closed.is_set():
            return False
        self.outbox.put_nowait((topic, frm, value))
        return True

    def pending(self) -> list[tuple]:
        """Messages that came in before the connection closed (a target's last words before it exits)."""
        items = []
        while not self.outbox.empty():
            items.append(self.outbox.get_nowait())
        return items

    def close(self, reason: str, target_gone: bool = False) -> None:
        if not self.closed.is_set():
            self.close_reason, self.target_gone = reason, target_gone
            self.closed.set()

    async def beat(self) -> None:
        while self.heartbeat:
            await asyncio.sleep(self.heartbeat)
            if self.target is not None:
                self.node.send(self.target, self.heartbeat_topic, self.pid,
                               {"client_pid": self.pid, "uptime": time.monotonic() - self.started,
                                "message_count": self.messages, "metadata": self.metadata})

    async def run(self, request: web.BaseRequest) -> web.StreamResponse:
        """Serve the connection until it closes; the response it was served on."""
        raise NotImplementedError

    def finish(self, error: str | None = None) -> None:
        """The connection ended: leave the target, tell monitors and (on error) links."""
        self.closed.set()
        self.host.conns.pop(self.pid, None)
        if self.target is not None:
            self.node.monitor(self.target, self.pid, False)
            if not self.target_gone:
                self.node.send(self.target, self.leave_topic, self.pid, self._presence())
        result = {"error": WippyError(CANCELED, error)} if error else {"value": self.close_reason}
        for watcher in self.monitors:
            self.node.route_event(watcher, {"kind": EXIT, "type": EXIT, "from": self.pid, "result": result})
        if error:
            for other in self.links:
                self.node.route_event(other, {"kind": LINK_DOWN, "type": LINK_DOWN, "from": self.pid,
                                              "result": result})


def _data(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    return value


class WsConnection(Connection):
    join_topic, leave_topic, heartbeat_topic = "ws.join", "ws.leave", "ws.heartbeat"

    async def run(self, request: web.BaseRequest) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.attach(self.first_target)
        tasks = [asyncio.ensure_future(self._read(ws)), asyncio.ensure_future(self._write(ws)),
                 asyncio.ensure_future(self.beat())]
        error = None
        try:
            await self.closed.wait()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for topic, _frm, value in self.pending() if self.target_gone else ():
                if not ws.closed and topic not in ("ws.close", "ws.control"):
                    await ws.send_str(json.dumps({"topic": topic, "data": _data(value)}, default=str))
            if not ws.closed:
                try:
                    await ws.close(message=self.close_reason.encode()[:120])
                except ConnectionError as e:
                    error = str(e)
            self.finish(error)
        return ws

    async def _read(self, ws: web.WebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                body: Any = msg.data
            elif msg.type == WSMsgType.BINARY:
                body = bytes(msg.data)
            else:
                continue
            self.messages += 1
            if self.target is not None:
                self.node.send(self.target, self.topic, self.pid, body)
        self.close("client closed")

    async def _write(self, ws: web.WebSocketResponse) -> None:
        while True:
            topic, _frm, value = await self.outbox.get()
            if topic == "ws.close":
                self.close(value if isinstance(value, str) else "closed")
                return
            if topic == "ws.control":
                if isinstance(value, dict):
                    if value.get("message_topic"):
                        self.topic = str(value["message_topic"])
                    if "target_pid" in value:
                        self.attach(str(value["target_pid"] or "") or None)
                continue
            await ws.send_str(json.dumps({"topic": topic, "data": _data(value)}, default=str))


class SseConnection(Connection):
    join_topic, leave_topic, heartbeat_topic = "sse.join", "sse.leave", "sse.heartbeat"

    def __init__(self, host: RelayHost, conf: dict, default_topic: str):
        super().__init__(host, conf, default_topic)
        self.idle = _duration(conf, "idle_timeout", None)
        self.hard = _duration(conf, "hard_timeout", None)
        self.last = time.monotonic()

    async def run(self, request: web.BaseRequest) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
        await resp.prepare(request)
        if self.first_target is None:
            await self._event(resp, "ready", {"stream_pid": self.pid, "message_topic": self.topic})
        else:
            self.attach(self.first_target)
        beat = asyncio.ensure_future(self.beat())
        error = None
        try:
            await self._pump(request, resp)
            for topic, _frm, value in self.pending() if self.target_gone else ():
                if topic == self.topic:
                    await self._event(resp, topic, value)
            if self.target_gone:
                await self._event(resp, "done", {"reason": self.close_reason})
            await resp.write_eof()
        except ConnectionError as e:
            error = None if self.closed.is_set() else str(e)
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
            self.finish(error)
        return resp

    async def _pump(self, request: web.BaseRequest, resp: web.StreamResponse) -> None:
        while not self.closed.is_set():
            now = time.monotonic()
            if self.hard is not None and now - self.started >= self.hard:
                return self.close("hard_timeout")
            if self.idle is not None and now - self.last >= self.idle:
                return self.close("idle_timeout")
            if request.transport is None or request.transport.is_closing():
                return self.close("client closed")
            try:
                topic, _frm, value = await asyncio.wait_for(self.outbox.get(), 0.25)
            except asyncio.TimeoutError:
                continue
            if topic == "sse.close":
                return self.close(value if isinstance(value, str) else "closed")
            if topic == "sse.control":
                self._control(value)
            elif topic == self.topic:
                self.messages += 1
                self.last = time.monotonic()
                await self._event(resp, topic, value)

    def _control(self, value: Any) -> None:
        if not isinstance(value, dict):
            return
        if value.get("message_topic"):
            self.topic = str(value["message_topic"])
        for key in ("idle_timeout", "hard_timeout"):
            if key in value:
                setattr(self, key.split("_")[0], _duration(value, key, None))
        if "heartbeat_interval" in value:
            self.heartbeat = _duration(value, "heartbeat_interval", None)
        if "target_pid" in value:
            self.attach(str(value["target_pid"] or "") or None)

    @staticmethod
    async def _event(resp: web.StreamResponse, name: str, data: Any) -> None:
        body = json.dumps(_data(data), default=str)
        await resp.write(f"event: {name}\ndata: {body}\n\n".encode())


class _Relay:
    header = ""
    origins_key = ""
    default_topic = ""
    connection: type[Connection] = Connection

    def __init__(self, o: dict[str, Any], runtime):
        self.runtime = runtime
        self.origins = _origins(o, self.origins_key)

    def respond(self, ex, resp: web.StreamResponse):
        try:
            conf = _settings(resp, self.header)
        except WippyError as e:
            return web.json_response({"error": e.message}, status=500)
        if conf is None:
            return resp
        request = ex.request
        if not allowed_origin(request, self.origins):
            return web.json_response({"error": "origin not allowed"}, status=403)
        refused = self.refuse(request, conf)
        if refused is not None:
            return refused
        try:
            conn = self.connection(RelayHost.of(self.runtime.node), conf, self.default_topic)
        except WippyError as e:
            return web.json_response({"error": e.message}, status=500)
        return self._serve(ex, conn)

    def refuse(self, request: web.BaseRequest, conf: dict) -> web.Response | None:
        return None

    async def _serve(self, ex, conn: Connection) -> web.StreamResponse:
        ex.stream = stream = await conn.run(ex.request)
        return stream


class WebSocketRelay(_Relay):
    header, origins_key, default_topic, connection = "X-WS-Relay", "wsrelay.allowed.origins", "ws.message", WsConnection

    def refuse(self, request: web.BaseRequest, conf: dict) -> web.Response | None:
        if not conf.get("target_pid"):
            return web.json_response({"error": "X-WS-Relay: target_pid is required"}, status=500)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return web.json_response({"error": "a WebSocket upgrade request is required"}, status=400)
        return None


class SseRelay(_Relay):
    header, origins_key, default_topic, connection = "X-SSE-Relay", "sserelay.allowed.origins", "sse.message", SseConnection


KINDS = {"websocket_relay": WebSocketRelay, "sse_relay": SseRelay}
