"""The live HTTP side of one runtime: a server per http.service and, for each, a route
table compiled from the http.router, http.endpoint and http.static entries.

Kind handlers call in here from `apply`; an op that would leave routing broken (unknown
router, duplicate route, bad path) raises RouteError and changes nothing. The registry
reverts a rejected changeset by applying inverse ops, which come through here as well.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from ..registry import Entry, Op, resolve_ref
from ..registry.entry import InvalidEntryId
from . import middleware
from .routing import Endpoint, RouteError, RouteTable, Router
from .tls import TlsError, server_context
from .server import HttpServer
from .static import StaticMount

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger("wippy.http")

_MANAGERS: "WeakKeyDictionary[Runtime, HttpManager]" = WeakKeyDictionary()


def _meta_ref(entry: Entry, key: str) -> str:
    value = (entry.meta or {}).get(key)
    if not isinstance(value, str) or not value:
        raise RouteError(f"{entry.kind} {entry.id} needs meta.{key} naming its "
                         f"{'http.router' if key == 'router' else 'http.service'}")
    try:
        return resolve_ref(value, entry.ns)
    except InvalidEntryId as e:
        raise RouteError(f"{entry.id}: meta.{key}: {e}") from None


class HttpManager:
    @classmethod
    def of(cls, runtime: "Runtime") -> "HttpManager":
        mgr = _MANAGERS.get(runtime)
        if mgr is None:
            mgr = _MANAGERS[runtime] = cls(runtime)
        return mgr

    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime
        self.servers: dict[str, HttpServer] = {}
        self.entries: dict[str, tuple[Entry, Any]] = {}    # routers, endpoints and statics
        self._middleware: dict[tuple, tuple] = {}

    # ------------------------------------------------------------------ services
    async def apply_service(self, op: Op) -> None:
        """A service is supervised: it binds at once (an address in use rejects the entry) when
        lifecycle.auto_start and the services it requires run, else when the supervisor starts it."""
        sid = op.entry.id
        sup = self.runtime.supervisor
        if op.action == "delete":
            await sup.remove(sid)
            server = self.servers.pop(sid, None)
            if server is not None:
                await server.close()
            return
        from ..kinds.models.http import parse_addr
        from ..security.store import service_identity
        model = self.runtime.decode(op.entry)
        host, port = parse_addr(model.addr)
        try:
            ssl_context = server_context(model.tls)
        except TlsError as e:
            raise RouteError(f"http.service {sid}: {e}") from None
        server = self.servers.get(sid)
        identity = service_identity(self.runtime.registry, model.lifecycle.security, op.entry.ns)
        if server is None:
            server = HttpServer(sid, self._call, max_body=int(model.max_body), write_timeout=model.timeouts.write,
                                idle_timeout=model.timeouts.idle, read_timeout=model.timeouts.read,
                                max_connections=model.max_connections, stop_timeout=model.lifecycle.stop_timeout)
            server.ssl_context, server.identity, server.listen = ssl_context, identity, (host, port)
            spec = _service_spec(sid, model, server)
            if model.lifecycle.auto_start and not sup.unmet(spec):
                try:
                    await server.bind(host, port)
                except OSError:
                    await server.close()
                    raise
            self.servers[sid] = server
            self.rebuild()
            sup.add(spec)
            return
        server.max_body, server.write_timeout = int(model.max_body), model.timeouts.write
        server.read_timeout = model.timeouts.read
        server.identity = identity
        server.max_connections = model.max_connections
        server.stop_timeout = model.lifecycle.stop_timeout
        server.listen = (host, port)
        sup.update(_service_spec(sid, model, server))
        if server.addr is not None and (server.addr != (host, port) or _tls_changed(op)):
            server.ssl_context = ssl_context
            await server.rebind(host, port)
        else:
            server.ssl_context = ssl_context

    async def _call(self, func: str, ctx: dict, actor: dict | None = None, scope: list | None = None) -> Any:
        from ..metrics import observe_call
        started, ok = time.monotonic(), False
        try:
            result = await self.runtime.call(func, ctx=ctx, actor=actor, scope=scope)
            ok = True
            return result
        finally:
            observe_call(func, time.monotonic() - started, ok)

    async def close(self) -> None:
        for server in list(self.servers.values()):
            await server.close()
        self.servers.clear()

    # ------------------------------------------------------------------ routes
    def apply_route(self, op: Op) -> None:
        eid = op.entry.id
        previous = self.entries.get(eid)
        if op.action == "delete":
            self.entries.pop(eid, None)
        else:
            self.entries[eid] = (op.entry, self.runtime.decode(op.entry))
        try:
            self.rebuild()
        except RouteError:
            if previous is None:
                self.entries.pop(eid, None)
            else:
                self.entries[eid] = previous
            raise

    def rebuild(self) -> None:
        """Compile every service's table, then swap them all in at once."""
        routers: dict[str, tuple[str, Router]] = {}
        cache: dict[tuple, tuple] = {}
        for eid, (entry, model) in self.entries.items():
            if entry.kind == "http.router":
                server = self._server_of(entry)
                routers[eid] = (server, Router(eid, model.prefix,
                                               self._mw(cache, eid, "pre", model.middleware, model.options),
                                               self._mw(cache, eid, "post", model.post_middleware, model.post_options)))
            elif entry.kind == "http.static":
                server = self._server_of(entry)
                opts = model.static_options
                mount = StaticMount(model.path, self._directory(entry, model), index=opts.index, spa=opts.spa,
                                    cache=opts.cache)
                routers[eid] = (server, Router(eid, model.path, self._mw(cache, eid, "pre", model.middleware,
                                                                          model.options), static=mount))
        for eid, (entry, model) in self.entries.items():
            if entry.kind != "http.endpoint":
                continue
            rid = _meta_ref(entry, "router")
            if rid not in routers or routers[rid][1].static is not None:
                raise RouteError(f"http.endpoint {eid}: router {rid} is not an http.router entry")
            routers[rid][1].add(Endpoint(eid, model.method, model.path, resolve_ref(model.func, entry.ns)))
        tables: dict[str, list[Router]] = {sid: [] for sid in self.servers}
        for sid, router in routers.values():
            tables[sid].append(router)
        for sid, http_server in self.servers.items():
            http_server.table = RouteTable(tables[sid])
        self._middleware = cache

    def _server_of(self, entry: Entry) -> str:
        sid = _meta_ref(entry, "server")
        if sid not in self.servers:
            raise RouteError(f"{entry.kind} {entry.id}: server {sid} is not an http.service entry")
        return sid

    def _mw(self, cache: dict, eid: str, stage: str, names: list[str], options: dict) -> tuple:
        # middleware keeps its state (rate-limit buckets) while its router's settings stay the same
        key = (eid, stage, tuple(names), repr(sorted(middleware.flatten(options).items())))
        found = self._middleware.get(key)
        if found is None:
            try:
                found = middleware.build(names, options, self.runtime)
            except (ValueError, TypeError) as e:
                raise RouteError(f"{eid}: bad middleware options: {e}") from None
        cache[key] = found
        return found

    def _directory(self, entry: Entry, model) -> Any:
        if model.directory is not None:
            base = Path(entry.source.file).parent if entry.source is not None and entry.source.file else Path.cwd()
            path = (base / model.directory).resolve()
            return lambda: path
        fs_id = resolve_ref(model.fs, entry.ns)
        registry = self.runtime.registry

        def resolve() -> Path | None:
            fs = registry.get(fs_id)
            data = fs.data if fs is not None and isinstance(fs.data, dict) else {}
            return Path(data["directory"]) if isinstance(data.get("directory"), str) else None
        return resolve


def _service_spec(sid: str, model, server: HttpServer):
    from ..supervisor.supervisor import python_service

    async def run(ready) -> None:
        if server.addr is None and server.listen is not None:
            await server.bind(*server.listen)    # an address in use fails this start: restart retries
        ready()
        try:
            await asyncio.Event().wait()         # serves until stopped
        finally:
            await server.close()                 # requests in flight get lifecycle.stop_timeout
    return python_service(sid, model.lifecycle, run)


def _tls_changed(op: Op) -> bool:
    """Whether an update changes the service's tls settings (the listener then restarts with them)."""
    if op.previous is None:
        return False
    before, after = op.previous.data, op.entry.data
    return (before or {}).get("tls") != (after or {}).get("tls")
