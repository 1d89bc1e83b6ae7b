"""Every code example of the Lua docs whose modules exist runs as a process entry.

One runtime per page runs that page's examples (see examples.py for the setup files that
stub what an example takes from its surroundings, and for the reasons examples are skipped).
"""
from __future__ import annotations

import asyncio
import io
import sys
import textwrap

import aiohttp
import pytest
import pytest_asyncio
import yaml
from aiohttp import web

from wippy.engine.errors import WippyError
from wippy.runtime import Runtime

from tests.harness.wippy_docs import ABSENT

from .examples import Example, docs_root, examples, pages, setup_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
EXAMPLE_TIMEOUT = 10.0


def _params():
    if docs_root() is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason=ABSENT))]
    out = []
    for page in pages():
        if setup_for(page) is None:
            out.append(pytest.param(Example(page, 0, 0, ""), id=f"{page}#*",
                                    marks=pytest.mark.skip(reason=f"no setup file tests/docs/pages/{page[:-3]}.yaml yet")))
            continue
        for ex in examples(page):
            why = ex.skip_reason()
            marks = [pytest.mark.skip(reason=why)] if why else []
            out.append(pytest.param(ex, id=ex.id, marks=marks))
    return out


async def _describe(request: web.Request) -> web.Response:
    """The local server of `http_server` pages: every request answered with what it was."""
    body = await request.read()
    return web.json_response({"method": request.method, "path": request.path, "query": dict(request.query),
                              "headers": dict(request.headers), "size": len(body)},
                             headers={"X-Served-By": "docs"})


class PageApps:
    """A runtime per page, holding every runnable example of the page as an entry."""

    def __init__(self, tmp_root):
        self.tmp_root = tmp_root
        self.runtimes: dict[str, Runtime | str] = {}
        self.servers: list[web.AppRunner] = []
        self.session: aiohttp.ClientSession | None = None

    async def local_server(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", _describe)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.servers.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def runtime(self, page: str) -> Runtime:
        rt = self.runtimes.get(page)
        if isinstance(rt, str):
            raise AssertionError(rt)
        if rt is not None:
            return rt
        try:
            rt = await self._start(page)
        except Exception as e:
            self.runtimes[page] = f"{page}: the page's runtime did not start: {e}"
            raise
        self.runtimes[page] = rt
        return rt

    async def _start(self, page: str) -> Runtime:
        d = self.tmp_root / page.replace("/", "_")[:-3]
        d.mkdir()
        setup = setup_for(page) or {}
        server = await self.local_server() if setup.get("http_server") else ""
        handler = setup.get("http_handler")
        host_kind = "terminal.host" if setup.get("terminal") else "process.host"
        entries = [{"name": "host", "kind": host_kind, "lifecycle": {"auto_start": True}}]
        if handler is not None:
            entries += [{"name": "web", "kind": "http.service", "addr": "127.0.0.1:0", "lifecycle": {"auto_start": True}},
                        {"name": "api", "kind": "http.router", "meta": {"server": "web"}}]
        for ex in examples(page):
            if ex.skip_reason() or ex.syntax_error():
                continue
            (d / f"ex{ex.number}.lua").write_text(ex.chunk().replace("$SERVER", server))
            entries.append({"name": f"ex{ex.number}", "kind": "function.lua" if handler is not None else "process.lua",
                            "source": f"file://ex{ex.number}.lua", "method": "main",
                            "modules": ex.grants(), "meta": {"doc_line": ex.line}})
            if handler is not None:
                route = f"/ex{ex.number}" + ((handler.get("routes") or {}).get(ex.number) or "")
                entries.append({"name": f"ex{ex.number}.endpoint", "kind": "http.endpoint", "meta": {"router": "api"},
                                "method": ((handler.get("requests") or {}).get(ex.number) or {}).get("method", "POST"),
                                "path": route, "func": f"ex{ex.number}"})
        entries += setup.get("entries") or []
        (d / "_index.yaml").write_text(yaml.safe_dump({"version": "1.0", "namespace": "docs", "entries": entries}))
        for ns, more in (setup.get("namespaces") or {}).items():
            (d / ns).mkdir()
            (d / ns / "_index.yaml").write_text(yaml.safe_dump({"version": "1.0", "namespace": ns, "entries": more}))
        rt = Runtime(d, node_name="docs")
        await rt.start()
        if rt.errors:
            await rt.stop()
            raise AssertionError(f"{page}: entries refused: {rt.errors}")
        return rt

    async def request(self, page: str, example: Example) -> tuple[int, str, int | None]:
        """Send the example's request to its endpoint: (status, body, the status it expects)."""
        from wippy.http.manager import HttpManager
        rt = await self.runtime(page)
        spec = ((setup_for(page) or {}).get("http_handler") or {}).get("requests", {}).get(example.number) or {}
        port = HttpManager.of(rt).servers["docs:web"].port
        url = f"http://127.0.0.1:{port}/ex{example.number}{spec.get('path', '')}"
        if spec.get("query"):
            url += "?" + spec["query"]
        if self.session is None:
            self.session = aiohttp.ClientSession()
        async with self.session.request(spec.get("method", "POST"), url, headers=spec.get("headers"),
                                        data=spec.get("body")) as resp:
            return resp.status, await resp.text(), spec.get("expect")

    async def close(self):
        if self.session is not None:
            await self.session.close()
        for rt in self.runtimes.values():
            if isinstance(rt, Runtime):
                from wippy.http.manager import HttpManager
                await HttpManager.of(rt).close()
                await rt.stop()
        for runner in self.servers:
            await runner.cleanup()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def page_apps(tmp_path_factory):
    apps = PageApps(tmp_path_factory.mktemp("docs"))
    yield apps
    await apps.close()


@pytest.mark.parametrize("example", _params())
async def test_doc_example(page_apps, example: Example, caplog, monkeypatch):
    bad = example.syntax_error()
    if bad:
        pytest.fail(f"{example.id} (line {example.line}) is not valid Lua here: {bad}\n"
                    + textwrap.indent(example.chunk(), "    "))
    rt = await page_apps.runtime(example.page)
    if example.setup.get("http_handler") is not None:
        status, body, expect = await asyncio.wait_for(page_apps.request(example.page, example), EXAMPLE_TIMEOUT)
        assert status == expect if expect else status < 500, (f"{example.id} (line {example.line}) failed as an HTTP handler: {status} {body}\n"
                              + textwrap.indent(example.chunk(), "    "))
        # a handler that fails after writing its response still answers with what it wrote
        failed = [r.getMessage() for r in caplog.records
                  if r.name == "wippy.http" and f"docs:ex{example.number}.endpoint" in r.getMessage()]
        assert not failed, f"{example.id} (line {example.line}) failed as an HTTP handler: {failed}"
        return
    stdin = example.setup.get("stdin")
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(stdin.encode()))))
    try:
        await asyncio.wait_for(rt.node.exec(f"docs:ex{example.number}", "docs:host", []), EXAMPLE_TIMEOUT)
    except asyncio.TimeoutError:
        pytest.fail(f"{example.id} (line {example.line}) did not finish in {EXAMPLE_TIMEOUT} s\n"
                    + textwrap.indent(example.chunk(), "    "))
    except WippyError as e:
        pytest.fail(f"{example.id} (line {example.line}) failed: {e.kind or 'error'}: {e}\n"
                    + textwrap.indent(example.chunk(), "    "))
