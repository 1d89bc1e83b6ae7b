"""One request and its response while an endpoint's function runs.

The function reaches its exchange through a context value (CTX_KEY, the request id) that
the `http` module looks up in LIVE; nothing else is shared between requests.
"""
from __future__ import annotations

import asyncio
import itertools
import os
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import ClientError, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDict

from ..engine.errors import WippyError, INTERNAL, INVALID, UNAVAILABLE

if TYPE_CHECKING:
    from .routing import Endpoint, Router

CTX_KEY = "http.request_id"
LIVE: dict[str, "Exchange"] = {}

_PREFIX = os.urandom(3).hex()
_SEQ = itertools.count(1)


def new_request_id() -> str:
    return f"{_PREFIX}-{next(_SEQ):x}"


class Exchange:
    __slots__ = ("id", "request", "service", "router", "endpoint", "params", "body", "body_seen", "max_body",
                 "read_deadline", "remote_addr", "status", "headers", "chunks", "transfer", "stream", "started",
                 "hooks", "_query", "actor", "scope", "_continued", "uploads", "form")

    def __init__(self, request: web.BaseRequest, service: str, max_body: int = 0, read_timeout: float = 0.0):
        self.id = new_request_id()
        self.request = request
        self.service = service
        self.router: Router | None = None
        self.endpoint: Endpoint | None = None
        self.params: dict[str, str] = {}
        # The body stays on the connection until the handler reads it (req:body(), req:stream(),
        # parse_multipart): a handler that never reads it never pays for it.
        self.body: bytes | None = None        # the whole body, once read whole
        self.body_seen = 0                    # bytes read so far, whole or streamed
        self.max_body = max_body              # the service's max_body
        self._continued = False               # "100 Continue" sent (Expect: 100-continue)
        self.uploads: list = []               # files of parse_multipart, closed when the request ends
        self.form: dict | None = None         # parse_multipart's result: the body is read once
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self.remote_addr = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else ""
        self.status = 200
        self.headers: CIMultiDict = CIMultiDict()
        self.chunks: list[bytes] = []
        self.transfer: str | None = None
        self.stream: web.StreamResponse | None = None
        self.started = time.perf_counter()
        # the service's read timeout bounds reading the whole request, headers and body
        self.read_deadline = time.monotonic() + read_timeout if read_timeout else None
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
                "content_length": self.content_length(), "has_body": self.has_body(), "request_id": self.id}

    def content_length(self) -> int:
        """The Content-Length header; -1 when the body's length is not known (chunked upload)."""
        n = self.request.content_length
        if n is not None:
            return n
        return -1 if self.request.body_exists else 0

    def has_body(self) -> bool:
        return self.request.body_exists and self.request.content_length != 0

    async def read_body(self, n: int, max_body: int, timeout: float) -> bytes:
        """Up to n bytes more of the body (n <= 0: all that is left); b"" at its end. A body over
        the smaller of the service's and the handler's max_body is refused (Invalid); each call waits
        at most `timeout` seconds and never past the service's read deadline (Internal)."""
        limit = min(self.max_body, max_body) if max_body > 0 else self.max_body
        if self.body_seen > limit:
            raise WippyError(INVALID, f"request body larger than max_body ({limit} bytes)")
        wait = timeout if timeout > 0 else None
        if self.read_deadline is not None:
            left = max(self.read_deadline - time.monotonic(), 0.0)
            wait = left if wait is None else min(wait, left)
        content = self.request.content
        try:
            async with asyncio.timeout(wait):
                if not self._continued:
                    self._continued = True
                    if self.stream is None and self.request.headers.get("Expect", "").lower() == "100-continue":
                        await self.request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                if n > 0:
                    # one byte past the limit tells an over-limit body from one that ends there
                    data = await content.read(min(n, limit - self.body_seen + 1))
                else:
                    buf = bytearray()
                    async for chunk in content.iter_any():
                        buf += chunk
                        if self.body_seen + len(buf) > limit:
                            break
                    data = bytes(buf)
        except TimeoutError:
            raise WippyError(INTERNAL, f"request body not received within the read timeout ({wait:g}s)") from None
        except (ConnectionError, RuntimeError, ClientError, HttpProcessingError) as e:
            raise WippyError(INTERNAL, f"request body read failed: {e}") from None
        self.body_seen += len(data)
        if self.body_seen > limit:
            raise WippyError(INVALID, f"request body larger than max_body ({limit} bytes)")
        return data

    def finish(self) -> None:
        for up in self.uploads:
            up.close()
        self.uploads.clear()

    async def whole_body(self, max_body: int, timeout: float) -> bytes:
        """The whole body, read once and kept (after a partial stream read: what was left)."""
        if self.body is None:
            self.body = await self.read_body(0, max_body, timeout)
        return self.body

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
