"""A running app and MCP client sessions to it, as an agent has them: `wippy run` in one process,
`wippy mcp` spawned by the SDK's stdio client or serving streamable HTTP, tokens from the CLI."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from .processes import stop_process, wait_for


def wippy(*args, env=None, timeout=60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningApp:
    """`wippy run DIR` in the background, its HTTP address, and its tokens."""

    def __init__(self, src: Path, dest: Path):
        shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".wippy"))
        self.dir = dest
        self.addr = f"127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen([sys.executable, "-m", "wippy.cli.main", "run", str(dest)],
                                     env={**os.environ, "HTTP_ADDR": self.addr}, stdout=subprocess.DEVNULL,
                                     stderr=open(dest.parent / "app.log", "w"))
        wait_for(lambda: (dest / ".wippy" / "control.sock").exists() and self.get("/") is not None,
                 timeout=60, what="the app to serve")

    def get(self, path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(f"http://{self.addr}{path}", timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except OSError:
            return None

    def token(self, actor: str, *, ns=(), kinds=(), actions: str | None = None, store: str | None = None,
              policy_groups=()) -> dict:
        args = ["mcp-token", "create", str(self.dir), "--actor", actor, *(["--token-store", store] if store else [])]
        for g in policy_groups:
            args += ["--policy-group", g]
        for n in ns:
            args += ["--ns", n]
        for k in kinds:
            args += ["--kind", k]
        if actions:
            args += ["--actions", actions]
        r = wippy(*args)
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def revoke(self, token_id: str, store: str | None = None) -> None:
        r = wippy("mcp-token", "revoke", token_id, str(self.dir), *(["--token-store", store] if store else []))
        assert r.returncode == 0, r.stderr

    def history(self) -> list[str]:
        r = wippy("history", str(self.dir))
        assert r.returncode == 0, r.stderr
        return r.stdout.splitlines()

    def stop(self) -> None:
        stop_process(self.proc)


@asynccontextmanager
async def stdio_session(app_dir: Path, token: str, *extra: str, env: dict | None = None):
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "wippy.cli.main", "-s", "mcp", str(app_dir), *extra],
                                   env={"WIPPY_MCP_TOKEN": token, "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
                                        **(env or {})})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            yield session


class HttpServer:
    """`wippy mcp DIR --http` in the background."""

    def __init__(self, app_dir: Path, *extra: str):
        self.url = f"http://127.0.0.1:{free_port()}/mcp"
        addr = self.url.removeprefix("http://").removesuffix("/mcp")
        self.proc = subprocess.Popen([sys.executable, "-m", "wippy.cli.main", "mcp", str(app_dir), "--http", addr,
                                      *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _answers(self.url), timeout=30, what="wippy mcp --http to listen")

    def stop(self) -> None:
        stop_process(self.proc)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True      # 401 without a token: it is up
    except OSError:
        return False
    return True


@asynccontextmanager
async def http_session(url: str, token: str):
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"},
                                  timeout=httpx2.Timeout(30, read=300)) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


async def call(session, tool: str, **args):
    """A tool's JSON answer; raises ToolFailed with the server's text when it reports an error."""
    result = await session.call_tool(tool, args)
    text = "".join(c.text for c in result.content if getattr(c, "text", None) is not None)
    if result.is_error:
        raise ToolFailed(text)
    try:
        return json.loads(text)
    except ValueError:
        return text


class ToolFailed(Exception):
    pass
