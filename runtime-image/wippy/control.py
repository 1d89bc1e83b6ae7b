"""The control socket of a running app (`.wippy/control.sock`): lets `wippy rollback` and
`wippy history` act on the live registry instead of a file the app has open."""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession, ClientTimeout, UnixConnector, web

from .registry import ApplyError

if TYPE_CHECKING:
    from .mcp.ops import AppOps
    from .runtime import Runtime

SOCKET = "control.sock"


def version_rows(registry) -> list[dict[str, Any]]:
    head = registry.version
    return [{"id": v.id, "parent": v.parent, "created_at": str(v.created_at), "origin": v.origin,
             "summary": str(v.summary), "head": v.id == head} for v in registry.versions()]


class ControlServer:
    def __init__(self, runtime: "Runtime", path: Path):
        self.runtime = runtime
        self.path = path
        self._runner: web.AppRunner | None = None
        self._ops: AppOps | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/history", self._history)
        app.router.add_post("/rollback", self._rollback)
        app.router.add_get("/services", self._services)
        app.router.add_post("/agent", self._agent)
        from .mcp.ops import AppOps
        self._ops = AppOps(self.runtime)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self.path.unlink(missing_ok=True)
        await web.UnixSite(self._runner, str(self.path)).start()

    async def stop(self) -> None:
        if self._ops is not None:
            self._ops.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.path.unlink(missing_ok=True)

    async def _history(self, _req: web.Request) -> web.Response:
        return web.json_response(version_rows(self.runtime.registry))

    async def _services(self, _req: web.Request) -> web.Response:
        return web.json_response(self.runtime.supervisor.states())

    async def _rollback(self, req: web.Request) -> web.Response:
        body = await req.json()
        try:
            await self.runtime.registry.apply_version(int(body["version"]))
        except (ApplyError, KeyError, ValueError) as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"version": self.runtime.registry.version})


    async def _agent(self, req: web.Request) -> web.Response:
        """A tool call of `wippy mcp`, under the grant of the token it authenticated."""
        from .engine.errors import WippyError
        body = await req.json()
        assert self._ops is not None   # made by start(), before the server listens
        try:
            result = await self._ops.call(body["tool"], body.get("args") or {}, body["grant"])
        except WippyError as e:
            return web.json_response({"error": e.message, "kind": e.kind}, status=400)
        except TypeError as e:   # arguments the tool does not take
            return web.json_response({"error": str(e), "kind": "Invalid"}, status=400)
        return web.json_response({"result": result}, dumps=lambda v: json.dumps(v, default=str))


async def request(path: Path, method: str, route: str, payload: dict | None = None,
                  timeout: float | None = 300) -> tuple[int, Any]:
    async with ClientSession(connector=UnixConnector(path=str(path)), timeout=ClientTimeout(total=timeout)) as s:
        async with s.request(method, "http://wippy" + route, json=payload) as r:
            return r.status, json.loads(await r.text())
