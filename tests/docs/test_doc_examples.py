"""Every code example of the Lua docs whose modules exist runs as a process entry.

One runtime per page runs that page's examples (see examples.py for the setup files that
stub what an example takes from its surroundings, and for the reasons examples are skipped).
"""
from __future__ import annotations

import asyncio
import textwrap

import pytest
import pytest_asyncio
import yaml

from wippy.engine.errors import WippyError
from wippy.runtime import Runtime

from .examples import Example, docs_root, examples, pages, setup_for

pytestmark = pytest.mark.asyncio(loop_scope="module")
EXAMPLE_TIMEOUT = 10.0


def _params():
    if docs_root() is None:
        return [pytest.param(None, marks=pytest.mark.skip(reason="docs folder shared/wippy-docs not found"))]
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


class PageApps:
    """A runtime per page, holding every runnable example of the page as an entry."""

    def __init__(self, tmp_root):
        self.tmp_root = tmp_root
        self.runtimes: dict[str, Runtime | str] = {}

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
        entries = [{"name": "host", "kind": "process.host", "lifecycle": {"auto_start": True}}]
        for ex in examples(page):
            if ex.skip_reason() or ex.syntax_error():
                continue
            (d / f"ex{ex.number}.lua").write_text(ex.chunk())
            entries.append({"name": f"ex{ex.number}", "kind": "process.lua", "source": f"file://ex{ex.number}.lua", "method": "main",
                            "modules": ex.grants(), "meta": {"doc_line": ex.line}})
        setup = setup_for(page) or {}
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

    async def close(self):
        for rt in self.runtimes.values():
            await rt.stop()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def page_apps(tmp_path_factory):
    apps = PageApps(tmp_path_factory.mktemp("docs"))
    yield apps
    await apps.close()


@pytest.mark.parametrize("example", _params())
async def test_doc_example(page_apps, example: Example):
    bad = example.syntax_error()
    if bad:
        pytest.fail(f"{example.id} (line {example.line}) is not valid Lua here: {bad}\n"
                    + textwrap.indent(example.chunk(), "    "))
    rt = await page_apps.runtime(example.page)
    try:
        await asyncio.wait_for(rt.node.exec(f"docs:ex{example.number}", "docs:host", []), EXAMPLE_TIMEOUT)
    except asyncio.TimeoutError:
        pytest.fail(f"{example.id} (line {example.line}) did not finish in {EXAMPLE_TIMEOUT} s\n"
                    + textwrap.indent(example.chunk(), "    "))
    except WippyError as e:
        pytest.fail(f"{example.id} (line {example.line}) failed: {e.kind or 'error'}: {e}\n"
                    + textwrap.indent(example.chunk(), "    "))
