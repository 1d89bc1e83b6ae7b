"""A multipart form read from the request as it arrives (req:parse_multipart of lua/http/http.md).

Field values are kept in memory; uploaded files are kept in memory up to `max_memory` bytes for
the whole form and written to unlinked temporary files past it, as Go's ParseMultipartForm does.
The body is read through the exchange (its max_body, timeouts and 100-continue); the files live
until the request ends.
"""
from __future__ import annotations

import asyncio
import os
import tempfile
from typing import TYPE_CHECKING, Any

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..engine.errors import INVALID, WippyError

if TYPE_CHECKING:
    from .exchange import Exchange

CHUNK = 65536


class Upload:
    """One uploaded file: bytes in memory, or a temporary file once the form's memory is spent."""

    __slots__ = ("filename", "headers", "size", "mem", "disk")

    def __init__(self, filename: str, headers: dict[str, str]):
        self.filename, self.headers, self.size = filename, headers, 0
        self.mem: bytearray | None = bytearray()
        self.disk: Any = None

    async def add(self, data: bytes, room: int) -> int:
        """Append data; returns how much of the form's memory it used (0 once on disk)."""
        self.size += len(data)
        if self.mem is not None and len(data) <= room:
            self.mem += data
            return len(data)
        if self.disk is None:
            self.disk = await asyncio.to_thread(tempfile.TemporaryFile, prefix="wippy-upload-")
            data, freed = bytes(self.mem or b"") + data, -len(self.mem or b"")
            self.mem = None
        else:
            freed = 0
        await asyncio.to_thread(self.disk.write, data)
        return freed

    async def read(self, pos: int, n: int) -> bytes:
        if self.mem is not None:
            return bytes(self.mem[pos:pos + n])
        if self.disk is None:
            return b""
        self.disk.flush()
        return await asyncio.to_thread(os.pread, self.disk.fileno(), n, pos)

    def close(self) -> None:
        if self.disk is not None:
            self.disk.close()


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


async def parse(ex: "Exchange", max_body: int, timeout: float, max_memory: int) -> dict[str, Any]:
    """{"values": {name: text}, "files": {name: [Upload]}}; the uploads are also in ex.uploads."""
    ctype = ex.request.headers.get("Content-Type", "")
    media, params = parse_options_header(ctype)
    if not media.startswith(b"multipart/") or not params.get(b"boundary"):
        raise WippyError(INVALID, f"request is not multipart (Content-Type: {ctype or 'none'})")
    values: dict[str, str] = {}
    files: dict[str, list[Upload]] = {}
    state: dict[str, Any] = {"field": b"", "value": b"", "headers": {}, "part": None, "ended": False}
    pending: list[tuple[Upload, bytes]] = []   # file data of one chunk, stored (maybe on disk) after it

    def header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def header_end() -> None:
        state["headers"][_text(state["field"]).lower()] = _text(state["value"])
        state["field"] = state["value"] = b""

    def part_begin() -> None:
        state["headers"], state["part"] = {}, None

    def headers_finished() -> None:
        _, disp = parse_options_header(state["headers"].get("content-disposition", ""))
        name = disp.get(b"name")
        filename = disp.get(b"filename")
        if name is None:
            state["part"] = ("skip", None)
        elif filename is None:
            state["part"] = ("value", _text(name), bytearray())
        else:
            up = Upload(_text(filename), dict(state["headers"]))
            ex.uploads.append(up)
            files.setdefault(_text(name), []).append(up)
            state["part"] = ("file", up)

    def part_data(data: bytes, start: int, end: int) -> None:
        part = state["part"]
        if part is not None and part[0] == "value":
            part[2].extend(data[start:end])
        elif part is not None and part[0] == "file":
            pending.append((part[1], data[start:end]))

    def part_end() -> None:
        part = state["part"]
        if part is not None and part[0] == "value":
            values.setdefault(part[1], _text(bytes(part[2])))
        state["part"] = None

    def end() -> None:
        state["ended"] = True

    parser = MultipartParser(params[b"boundary"], {
        "on_part_begin": part_begin, "on_part_data": part_data, "on_part_end": part_end,
        "on_header_field": header_field, "on_header_value": header_value, "on_header_end": header_end,
        "on_headers_finished": headers_finished, "on_end": end})
    room = max_memory
    whole = ex.body is not None      # req:body() came first: the form is parsed from it
    while True:
        chunk = ex.body if whole else await ex.read_body(CHUNK, max_body, timeout)
        if not chunk:
            break
        try:
            parser.write(chunk)
        except MultipartParseError as e:
            raise WippyError(INVALID, f"malformed multipart body: {e}") from None
        for up, data in pending:
            room -= await up.add(data, room)
        pending.clear()
        if whole:
            break
    if not state["ended"]:
        raise WippyError(INVALID, "malformed multipart body: it ends before its closing boundary")
    return {"values": values, "files": files}
