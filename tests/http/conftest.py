"""HTTP fixtures: a Runtime on a tmp app folder serving on a free loopback port, and an
aiohttp client session for real requests."""
from __future__ import annotations

import asyncio
import socket
import textwrap
from pathlib import Path

import aiohttp
import pytest

from wippy.http.manager import HttpManager
from wippy.runtime import Runtime


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpApp:
    """A running app folder; `write` edits files live, `url` points at a service."""

    def __init__(self, root: Path):
        self.root = root
        self.runtime: Runtime | None = None
        self.session: aiohttp.ClientSession | None = None

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(textwrap.dedent(text))

    async def start(self) -> None:
        self.runtime = Runtime(self.root, node_name="test")
        await self.runtime.start()
        self.session = aiohttp.ClientSession()

    @property
    def http(self) -> HttpManager:
        return HttpManager.of(self.runtime)

    def url(self, path: str, service: str = "app:web") -> str:
        return f"http://127.0.0.1:{self.http.servers[service].port}{path}"

    async def version_after(self, before: int, timeout: float = 5.0) -> int:
        """Wait for the file watcher to commit a version newer than `before`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.runtime.registry.version <= before:
            if loop.time() > deadline:
                raise AssertionError(f"no new registry version; errors: {self.runtime.errors}")
            await asyncio.sleep(0.05)
        return self.runtime.registry.version

    async def stop(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.runtime is not None:
            await self.http.close()
            await self.runtime.stop()


@pytest.fixture
async def http_app(tmp_path: Path):
    app = HttpApp(tmp_path)
    yield app
    await app.stop()
