"""Python side of the `http` module: the request and response of the exchange whose id the
calling task carries in its context (see wippy/http/exchange.py)."""
from __future__ import annotations

from typing import Any

from ..engine.errors import WippyError, INVALID
from ..http.exchange import LIVE, Exchange


def _exchange(rid: Any) -> Exchange:
    ex = LIVE.get(rid) if isinstance(rid, str) else None
    if ex is None:
        raise WippyError(INVALID, "the HTTP request has already finished")
    return ex


def _bytes(data: Any, latin1: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    return str(data).encode("latin-1" if latin1 else "utf-8")


def install(engine):
    to_lua = engine.to_lua

    def request(rid):
        return to_lua(_exchange(rid).summary())

    def header(rid, name):
        return _exchange(rid).request.headers.get(str(name))

    def headers(rid):
        h = _exchange(rid).request.headers
        return to_lua({k: h.get(k) for k in h.keys()})

    def query(rid):
        return to_lua(_exchange(rid).query())

    def body(rid):
        return _exchange(rid).body

    def set_status(rid, code):
        if isinstance(code, float) and code.is_integer():
            code = int(code)
        _exchange(rid).set_status(code)
        return True

    def set_header(rid, name, value):
        _exchange(rid).set_header(name, value)
        return True

    def set_transfer(rid, mode):
        ex = _exchange(rid)
        ex.check_open()
        ex.transfer = mode
        return True

    def write(rid, data, latin1):
        ex = _exchange(rid)
        if ex.stream is not None:
            raise WippyError(INVALID, "streaming response: write goes through the stream")
        ex.chunks.append(_bytes(data, latin1))
        return True

    async def write_stream(rid, data, latin1):
        await _exchange(rid).write_stream(_bytes(data, latin1) if data is not None else b"")
        return True

    return {"request": request, "header": header, "headers": headers, "query": query, "body": body,
            "set_status": set_status, "set_header": set_header, "set_transfer": set_transfer,
            "write": write, "write_stream": write_stream}
