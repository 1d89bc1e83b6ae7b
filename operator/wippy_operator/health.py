"""The operator's probe endpoints: /livez answers while its event loop runs; /readyz once kopf
has discovered the API and watches every resource the handlers need (a group missing after an
API server restart makes it not ready until discovery.py has found it again)."""
from __future__ import annotations

from aiohttp import web

from . import discovery


async def serve(host: str, port: int, settings, registry, insights) -> web.AppRunner:
    async def livez(_request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_request: web.Request) -> web.Response:
        if not insights.ready_resources.is_set():
            return web.Response(status=503, text="discovering the API\n")
        missing = discovery.missing_groups(settings, registry, insights)
        if missing:
            names = ", ".join(sorted(g or "core" for g in missing))
            return web.Response(status=503, text=f"not watching API groups: {names}\n")
        return web.Response(text="ok\n")

    app = web.Application()
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
