"""One http.service: a listener with a single catch-all handler over a swappable route table.

Routes change by assigning a new RouteTable (`server.table = ...`): no listener restart, and
a request in flight finishes on the router and endpoint it matched. Changing the address
opens the new listening socket on the same aiohttp server before closing the old one, so
connections already open keep being served.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import os
import ssl
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from ..engine.errors import WippyError
from . import metrics as http_metrics
from .exchange import CTX_KEY, LIVE, Exchange
from .routing import Endpoint, RouteTable

log = logging.getLogger("wippy.http")

Caller = Callable[[str, dict, "dict | None", "list | None"], Awaitable[Any]]   # func, ctx, actor, scope


class BindError(OSError):
    pass


def _plain(status: int, text: str, **headers: str) -> web.Response:
    return web.Response(status=status, text=text + "\n", headers=headers)


class _Server(web.Server):
    """aiohttp's server with two guards it lacks: a connection over the service's cap is closed at
    once, and a connection whose first request's headers are not in after the read timeout is
    closed (later requests on a kept-alive connection fall under the idle timeout)."""

    def __init__(self, owner: "HttpServer", handler, **kwargs):
        super().__init__(handler, **kwargs)
        self.owner = owner
        self._header_timers: dict = {}

    def connection_made(self, handler, transport) -> None:
        super().connection_made(handler, transport)
        owner = self.owner
        if owner.max_connections and len(self.connections) > owner.max_connections:
            log.debug("http.service %s: over %d connections, closing a new one", owner.id, owner.max_connections)
            transport.close()
            return
        if owner.read_timeout:
            self._header_timers[handler] = asyncio.get_running_loop().call_later(
                owner.read_timeout, self._headers_late, handler, transport)

    def _headers_late(self, handler, transport) -> None:
        self._header_timers.pop(handler, None)
        log.debug("http.service %s: request headers not received in %gs, closing", self.owner.id, self.owner.read_timeout)
        transport.close()

    def request_started(self, handler) -> None:
        timer = self._header_timers.pop(handler, None)
        if timer is not None:
            timer.cancel()

    def connection_lost(self, handler, exc: BaseException | None = None) -> None:
        self.request_started(handler)
        super().connection_lost(handler, exc)


class HttpServer:
    def __init__(self, service_id: str, call: Caller, *, max_body: int, write_timeout: float,
                 idle_timeout: float, read_timeout: float, max_connections: int = 0, stop_timeout: float = 5.0):
        self.id = service_id
        self.call = call
        self.table = RouteTable([])
        self.max_body = max_body
        self.write_timeout = write_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.addr: tuple[str, int] | None = None
        self.port: int | None = None
        self._server = _Server(self, self._handle, keepalive_timeout=idle_timeout)
        self._runner = web.ServerRunner(self._server, shutdown_timeout=stop_timeout)
        self._site: web.TCPSite | None = None
        self._started = False
        self.ssl_context: ssl.SSLContext | None = None   # set before bind: HTTPS (tls.mode manual)
        self.identity: tuple = (None, None)   # lifecycle.security: (actor, scope) of every request by default
        self.listen: tuple[str, int] | None = None   # where to bind when the supervisor starts it

    @property
    def stop_timeout(self) -> float:
        """How long requests in flight may finish when the service stops (lifecycle.stop_timeout)."""
        return self._runner._shutdown_timeout

    @stop_timeout.setter
    def stop_timeout(self, seconds: float) -> None:
        self._runner._shutdown_timeout = seconds    # aiohttp reads it when the runner cleans up

    # ------------------------------------------------------------------ listener
    async def bind(self, host: str, port: int) -> None:
        """Listen on host:port (in addition to any current address, which `rebind` closes)."""
        if not self._started:
            await self._runner.setup()
            self._started = True
        site = web.TCPSite(self._runner, host, port, reuse_address=True, ssl_context=self.ssl_context)
        try:
            await site.start()
        except OSError as e:
            reason = os.strerror(e.errno).lower() if e.errno else str(e)
            raise BindError(e.errno, f"cannot listen on {host}:{port}: {reason}") from None
        old, self._site = self._site, site
        self.addr = (host, port)
        sockets = getattr(site._server, "sockets", None)   # an asyncio.Server once started
        sock = sockets[0] if sockets else None
        self.port = sock.getsockname()[1] if sock is not None else port
        log.info("http.service %s listening on %s:%d", self.id, host, self.port)
        if old is not None:
            await old.stop()

    async def rebind(self, host: str, port: int) -> None:
        try:
            await self.bind(host, port)
        except BindError:
            if self.addr is None or self.port != port or port == 0:
                raise
            # same port, other interface: the old socket holds the port, so let it go first
            old_addr = self.addr
            if self._site is not None:
                await self._site.stop()
            self._site = None
            try:
                await self.bind(host, port)
            except BindError:
                await self.bind(*old_addr)
                raise

    async def close(self) -> None:
        if self._started:
            self._started = False
            await self._runner.cleanup()
            self.addr = self.port = None
            self._site = None

    # ------------------------------------------------------------------ requests
    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self._server.request_started(request.protocol)
        ex = Exchange(request, self.id, self.max_body, self.read_timeout)
        ex.actor, ex.scope = self.identity
        table = self.table   # one table for the whole request, whatever changes meanwhile
        router = table.router_for(request.path)
        ex.router = router
        pre = router.middleware if router is not None else ()
        post: tuple = ()
        try:
            resp = await self._run_before(ex, pre)
            if resp is None and router is not None and router.static is not None:
                resp = router.static.response(request.method, request.path)
            if resp is None:
                resp = await self._route(ex, table, router)
                post = router.post_middleware if router is not None else ()
        except Exception:
            log.exception("http.service %s: request %s failed", self.id, ex.id)
            resp = self._error(ex)
        if resp is ex.stream and resp is not None:
            status = resp.status
        else:
            for mw in pre + post:
                prepare = getattr(mw, "prepare", None)
                if prepare is not None:
                    prepare(ex, resp)
            status = resp.status
        for mw in pre + post:
            done = getattr(mw, "done", None)
            if done is not None:
                done(ex, status)
        http_metrics.observe(ex.service, request.method, ex.endpoint.route if ex.endpoint else "", status,
                             time.perf_counter() - ex.started)
        return resp

    @staticmethod
    async def _run_before(ex: Exchange, middleware: tuple) -> web.StreamResponse | None:
        for mw in middleware:
            before = getattr(mw, "before", None)
            if before is not None:
                resp = before(ex)
                if inspect.isawaitable(resp):
                    resp = await resp
                if resp is not None:
                    return resp
        return None

    async def _route(self, ex: Exchange, table: RouteTable, router) -> web.StreamResponse:
        request = ex.request
        match = table.match(router, request.method, request.path)
        if match.endpoint is None:
            if match.allowed:
                return _plain(405, f"method {request.method} not allowed", Allow=", ".join(match.allowed))
            return _plain(404, f"no route for {request.method} {request.path}")
        ex.endpoint, ex.params = match.endpoint, match.params or {}
        ex.hooks = router.middleware + router.post_middleware
        resp = await self._run_before(ex, router.post_middleware)
        if resp is not None:
            return resp
        too_big = self._too_big(ex)
        if too_big is not None:
            return too_big
        resp = await self._invoke(ex, match.endpoint)
        for mw in ex.hooks:
            respond = getattr(mw, "respond", None)
            if respond is not None and resp is not ex.stream:
                resp = respond(ex, resp)
                if inspect.isawaitable(resp):
                    resp = await resp
        return resp

    def _too_big(self, ex: Exchange) -> web.Response | None:
        """A body whose declared length is over max_body is refused before the handler runs;
        one without a length is cut when a read passes it (the handler gets Invalid)."""
        n = ex.request.content_length
        if n is not None and n > self.max_body:
            return _plain(413, f"request body larger than {self.max_body} bytes")
        return None

    async def _invoke(self, ex: Exchange, ep: Endpoint) -> web.StreamResponse:
        LIVE[ex.id] = ex
        try:
            call = self.call(ep.func, {CTX_KEY: ex.id}, ex.actor, ex.scope)
            if self.write_timeout:
                await asyncio.wait_for(call, self.write_timeout)
            else:
                await call
        except asyncio.TimeoutError:
            log.error("http.service %s: request %s %s %s: %s took longer than %gs",
                      self.id, ex.id, ex.request.method, ex.request.path, ep.func, self.write_timeout)
            if ex.stream is None:
                return _plain(504, f"handler timed out (request {ex.id})", **{"X-Request-Id": ex.id})
        except WippyError as e:
            log.error("http.service %s: request %s %s %s: endpoint %s (%s) failed: %s",
                      self.id, ex.id, ex.request.method, ex.request.path, ep.id, ep.func, e)
            if ex.stream is None and not ex.chunks and ex.status == 200:
                return self._error(ex)
        finally:
            LIVE.pop(ex.id, None)
            ex.finish()
        if ex.stream is not None:
            await ex.stream.write_eof()
            return ex.stream
        ex.headers["X-Request-Id"] = ex.id
        return web.Response(body=b"".join(ex.chunks), status=ex.status, headers=ex.headers)

    @staticmethod
    def _error(ex: Exchange) -> web.Response:
        return web.json_response({"error": "internal server error", "request_id": ex.id}, status=500,
                                 headers={"X-Request-Id": ex.id})

