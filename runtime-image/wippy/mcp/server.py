"""The MCP server (official `mcp` SDK): one tool per agent operation, over stdio or streamable HTTP.

Every call authenticates its token again (HTTP: `Authorization: Bearer`, stdio: the token the
server was started with), so a revoked token fails from its next call on; the app then does the
work under the token's grant (ops.py) and the call is appended to `.wippy/mcp-audit.jsonl`
(who, which tool, with what, the outcome and the version it produced).
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from aiohttp import ClientConnectionError
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ..control import SOCKET, request
from ..runtime import DATA_DIR
from .tokens import McpTokens, Unauthorized

AUDIT_FILE = "mcp-audit.jsonl"

INSTRUCTIONS = """Tools over a running Wippy app's registry. Entries are typed definitions
(`namespace:name`, a kind, meta and data); a change is a changeset of {action: create|update|delete,
entry: {id, kind, meta, ...fields}} applied all-or-nothing as a new registry version. Lint a change
before applying it; apply with run_tests: true to have it rolled back by itself when a test fails."""


class AppLink:
    """The running app's control socket, its MCP tokens and the audit log of an app folder."""

    def __init__(self, app_dir: Path, tokens: McpTokens):
        self.app_dir = Path(app_dir).resolve()
        data = self.app_dir / DATA_DIR
        self.socket = data / SOCKET
        self.tokens = tokens
        self.audit = data / AUDIT_FILE

    async def call(self, tool: str, args: dict, grant: dict) -> Any:
        if not self.socket.exists():
            raise ToolError(f"the app in {self.app_dir} is not running (start it with `wippy run {self.app_dir}`)")
        try:
            status, body = await request(self.socket, "POST", "/agent", {"tool": tool, "args": args, "grant": grant})
        except (ClientConnectionError, OSError) as e:
            raise ToolError(f"the app in {self.app_dir} does not answer: {e}") from None
        if status != 200:
            raise ToolError(f"{body.get('kind') or 'Error'}: {body.get('error')}")
        return body["result"]

    def record(self, entry: dict) -> None:
        self.audit.parent.mkdir(parents=True, exist_ok=True)
        with self.audit.open("a") as f:
            f.write(json.dumps(entry, default=str) + "\n")


class KubeLink(AppLink):
    """`wippy mcp --kubernetes`: the tools act on the app's custom resources from this process;
    the audit log stays in DIR/.wippy (and the tokens too, unless a token store entry is named)."""

    def __init__(self, data_dir: Path, tokens: McpTokens, ops):
        super().__init__(data_dir, tokens)
        self.ops = ops

    async def call(self, tool: str, args: dict, grant: dict) -> Any:
        from ..engine.errors import WippyError
        try:
            return await self.ops.call(tool, args, grant)
        except WippyError as e:
            raise ToolError(f"{e.kind or 'Error'}: {e.message}") from None
        except TypeError as e:   # arguments the tool does not take
            raise ToolError(f"Invalid: {e}") from None


def bearer(headers) -> str | None:
    value = (headers or {}).get("authorization") or ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def build_server(link: AppLink, stdio_token: str | None = None) -> MCPServer:
    server = MCPServer("wippy", instructions=INSTRUCTIONS)

    async def run(ctx: Context, tool: str, args: dict) -> str:
        secret = bearer(ctx.headers) if ctx.headers is not None else stdio_token
        started = time.time()
        record: dict[str, Any] = {"ts": started, "tool": tool, "args": args}
        try:
            grant = await link.tokens.authenticate(secret)
        except Unauthorized as e:
            link.record(record | {"ok": False, "error": str(e)})
            raise ToolError(f"PermissionDenied: {e}") from None
        record |= {"actor": grant.actor, "token": grant.id}
        try:
            result = await link.call(tool, {k: v for k, v in args.items() if v is not None}, grant.public())
        except ToolError as e:
            link.record(record | {"ok": False, "error": str(e)})
            raise
        produced = {k: result[k] for k in ("version", "generations", "rolled_back") if k in result} \
            if isinstance(result, dict) else {}
        link.record(record | {"ok": True, "version": None, "rolled_back": False} | produced)
        return result if isinstance(result, str) else json.dumps(result, indent=1, default=str)

    @server.tool()
    async def list_entries(ctx: Context, kind: str | None = None, namespace: str | None = None,
                           meta: dict[str, str] | None = None) -> str:
        """List entries (id, kind, meta), optionally by kind, namespace and meta fields."""
        return await run(ctx, "list_entries", {"kind": kind, "namespace": namespace, "meta": meta})

    @server.tool()
    async def find_entries(ctx: Context, text: str) -> str:
        """Find entries whose id, kind, meta or Lua source contain the text."""
        return await run(ctx, "find_entries", {"text": text})

    @server.tool()
    async def read_entry(ctx: Context, id: str) -> str:
        """One entry in full: {id, kind, meta, data}."""
        return await run(ctx, "read_entry", {"id": id})

    @server.tool()
    async def read_source(ctx: Context, id: str) -> str:
        """The Lua source of a function.lua, process.lua or library.lua entry, with line numbers."""
        return await run(ctx, "read_source", {"id": id})

    @server.tool()
    async def lint(ctx: Context, changes: list[dict[str, Any]]) -> str:
        """Check a proposed changeset (models, Lua syntax, references) without applying it."""
        return await run(ctx, "lint", {"changes": changes})

    @server.tool()
    async def apply(ctx: Context, changes: list[dict[str, Any]], run_tests: bool = False,
                    tests: list[str] | None = None) -> str:
        """Apply a changeset all-or-nothing as a new version. With run_tests, run the affected tests
        (or those whose id contains one of `tests`) and roll back by itself if one fails."""
        return await run(ctx, "apply", {"changes": changes, "run_tests": run_tests, "tests": tests})

    @server.tool()
    async def run_tests(ctx: Context, patterns: list[str] | None = None) -> str:
        """Run the app's tests (all, or those whose id contains one of the patterns)."""
        return await run(ctx, "run_tests", {"patterns": patterns})

    @server.tool()
    async def history(ctx: Context, limit: int = 50) -> str:
        """The registry versions: id, parent, time, origin (who) and what changed."""
        return await run(ctx, "history", {"limit": limit})

    @server.tool()
    async def diff(ctx: Context, from_version: int, to_version: int | None = None) -> str:
        """Entry-by-entry unified diffs between two versions (default: to the current one)."""
        return await run(ctx, "diff", {"from_version": from_version, "to_version": to_version})

    @server.tool()
    async def rollback(ctx: Context, version: int) -> str:
        """Put every entry back as it was at a version (recorded as a new version)."""
        return await run(ctx, "rollback", {"version": version})

    @server.tool()
    async def logs(ctx: Context, id: str, limit: int = 50) -> str:
        """Recent log records of an entry."""
        return await run(ctx, "logs", {"id": id, "limit": limit})

    @server.tool()
    async def metrics(ctx: Context, id: str) -> str:
        """Current metric samples labelled with an entry's id (calls, latency, restarts, ...)."""
        return await run(ctx, "metrics", {"id": id})

    return server


class BearerGate:
    """HTTP requests without a valid, unrevoked token are answered 401 before reaching MCP."""

    def __init__(self, app, tokens: McpTokens):
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            try:
                await self.tokens.authenticate(bearer(headers))
            except Unauthorized as e:
                body = json.dumps({"error": str(e)}).encode()
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


async def serve_stdio(link: AppLink, token: str | None) -> None:
    await link.tokens.authenticate(token)   # refuse to start on a bad token
    await build_server(link, token).run_stdio_async()


async def serve_http(link: AppLink, host: str, port: int) -> None:
    import uvicorn
    app = BearerGate(build_server(link).streamable_http_app(host=host), link.tokens)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    await uvicorn.Server(config).serve()
