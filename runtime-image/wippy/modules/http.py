"""Python side of the `http` module: the request and response of the exchange whose id the
calling task carries in its context (see wippy/http/exchange.py)."""
from __future__ import annotations

from typing import Any

from ..engine.errors import WippyError, INVALID
from ..http import multipart as multipart_form
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

    # max_body (bytes, 0 = the service's) and timeout (ms) are the handler's http.request options
    async def body(rid, max_body, timeout):
        return await _exchange(rid).whole_body(int(max_body), timeout / 1000)

    async def read(rid, n, max_body, timeout):
        ex = _exchange(rid)
        if ex.body is not None:     # read whole already: nothing is left on the connection
            return None
        return await ex.read_body(int(n), int(max_body), timeout / 1000) or None

    async def multipart(rid, max_body, timeout, max_memory):
        ex = _exchange(rid)
        form = ex.form
        if form is None:
            form = ex.form = await multipart_form.parse(ex, int(max_body), timeout / 1000, int(max_memory))
        files = {name: [{"filename": up.filename, "size": up.size, "headers": up.headers,
                         "index": ex.uploads.index(up)} for up in ups]
                 for name, ups in form["files"].items()}
        return to_lua({"values": form["values"], "files": files})

    async def upload_read(rid, index, pos, n):
        ups = _exchange(rid).uploads
        if not isinstance(index, int) or not 0 <= index < len(ups):
            raise WippyError(INVALID, "no such uploaded file")
        return await ups[index].read(int(pos), int(n)) or None

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

    return {"multipart": multipart, "request": request, "header": header, "headers": headers, "query": query, "body": body, "read": read, "upload_read": upload_read,
            "set_status": set_status, "set_header": set_header, "set_transfer": set_transfer,
            "write": write, "write_stream": write_stream}
