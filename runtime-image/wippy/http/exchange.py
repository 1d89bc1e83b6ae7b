"""One request and its response while an endpoint's function runs.

The function reaches its exchange through a context value (CTX_KEY, the request id) that
the `http` module looks up in LIVE; nothing else is shared between requests.
"""
from __future__ import annotations

import itertools
import os
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web
from multidict import CIMultiDict

from ..engine.errors import WippyError, INVALID, UNAVAILABLE

if TYPE_CHECKING:
    from .routing import Endpoint, Router

CTX_KEY = "http.request_id"
LIVE: dict[str, "Exchange"] = {}

_PREFIX = os.urandom(3).hex()
_SEQ = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_SEQ):x}"


class Exchange:
    __slots__ = ("id", "request", "service", "router", "endpoint", "params", "body", "remote_addr",
                 "status", "headers", "chunks", "transfer", "stream", "started", "hooks", "_query", "actor", "scope")

    def __init__(self, request: web.BaseRequest, service: str):
        self.id = new_request_id()
        self.request = request
        self.service = service
        self.router: Router | None = None
        self.endpoint: Endpoint | None = None
        self.params: dict[str, str] = {}
        self.body = b""
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.remote_addr = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else ""
        self.status = 200
        self.headers: CIMultiDict = CIMultiDict()
        self.chunks: list[bytes] = []
        self.transfer: str | None = None
        self.stream: web.StreamResponse | None = None
        self.started = time.perf_counter()
        self.hooks: tuple = ()   # middleware whose prepare() must see a streamed response
        self._query: dict[str, list[str]] | None = None
        self.actor: dict | None = None        # who the handler runs as (service security, token_auth)
        self.scope: list[str] | None = None

    # ------------------------------------------------------------------ request side
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            q: dict[str, list[str]] = {}
            for k, v in parse_qsl(self.request.query_string, keep_blank_values=True):
                q.setdefault(k, []).append(v)
            self._query = q
        return self._query

    def summary(self) -> dict[str, Any]:
        req = self.request
        return {"method": req.method, "path": req.path, "params": self.params,
                "remote_addr": self.remote_addr, "host": req.host or "",
                "content_type": req.headers.get("Content-Type", ""),
                "content_length": len(self.body), "request_id": self.id}

    # ------------------------------------------------------------------ response side
    def check_open(self) -> None:
        if self.stream is not None:
            raise WippyError(INVALID, "response headers were already sent")

    def set_status(self, code: Any) -> None:
        self.check_open()
        if not isinstance(code, int) or not 100 <= code <= 599:
            raise WippyError(INVALID, f"invalid HTTP status {code!r}: want an integer 100-599")
        self.status = code

    def set_header(self, name: Any, value: Any) -> None:
        self.check_open()
        if not isinstance(name, str) or not name or any(c in name for c in ":\r\n "):
            raise WippyError(INVALID, f"invalid header name {name!r}")
        value = str(value)
        if "\r" in value or "\n" in value:
            raise WippyError(INVALID, f"header {name}: value must not contain line breaks")
        self.headers[name] = value

    async def write_stream(self, data: bytes) -> None:
        """Chunked and SSE responses: the first write sends the headers."""
        if self.stream is None:
            resp = web.StreamResponse(status=self.status, headers=self.headers)
            resp.headers["X-Request-Id"] = self.id
            for mw in self.hooks:
                prepare = getattr(mw, "prepare", None)
                if prepare is not None:
                    prepare(self, resp)
            await resp.prepare(self.request)
            self.stream = resp
        if data:
            try:
                await self.stream.write(data)
            except (ConnectionError, RuntimeError) as e:
                raise WippyError(UNAVAILABLE, f"client went away: {e}") from None
