"""The request body stays on the connection until the handler reads it (lua/http/http.md):
req:stream() reads an upload as it arrives, req:body() reads it whole, both under max_body and
the read timeouts; a handler that never reads the body answers without receiving it."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import tempfile

import aiohttp
import pytest

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: web, kind: http.service, addr: "127.0.0.1:0", max_body: 64MiB, timeouts: {read: 5s}, lifecycle: {auto_start: true}}
  - {name: api, kind: http.router, meta: {server: web}, prefix: /}
  - {name: h, kind: function.lua, source: file://h.lua, method: handler, modules: [http, json, hash, time]}
  - {name: echo, kind: http.endpoint, meta: {router: api}, method: POST, path: /echo, func: h}
  - {name: count, kind: http.endpoint, meta: {router: api}, method: POST, path: /count, func: h}
  - {name: body, kind: http.endpoint, meta: {router: api}, method: POST, path: /body, func: h}
  - {name: ignore, kind: http.endpoint, meta: {router: api}, method: POST, path: /ignore, func: h}
  - {name: small, kind: http.endpoint, meta: {router: api}, method: POST, path: /small, func: h}
  - {name: stat, kind: http.endpoint, meta: {router: api}, method: POST, path: /stat, func: h}
  - {name: form, kind: http.endpoint, meta: {router: api}, method: POST, path: /form, func: h}
"""

HANDLER = """\
local http = require("http")
local json = require("json")
local function handler()
  local res = http.response()
  local p = http.request():path()
  if p == "/echo" then
    -- answers each chunk as it reads it: the client sees the reply before it sends the next one
    local req = http.request({timeout = 2000})
    local s = req:stream()
    res:set_transfer(http.TRANSFER.CHUNKED)
    local total = 0
    while true do
      local chunk, err = s:read(65536)
      if err then res:write("error " .. err:kind() .. ": " .. err:message() .. "\\n") return end
      if not chunk then break end
      total = total + #chunk
      res:write("n=" .. total .. "\\n")
      res:flush()
    end
    s:close()
    res:write("end " .. total .. "\\n")
  elseif p == "/count" then
    -- a large upload read 64 KiB at a time: never held whole
    local s = http.request():stream()
    local total, reads, biggest = 0, 0, 0
    while true do
      local chunk, err = s:read(65536)
      if err then res:set_status(400) return res:write_json({kind = err:kind(), message = err:message()}) end
      if not chunk then break end
      total, reads = total + #chunk, reads + 1
      if #chunk > biggest then biggest = #chunk end
    end
    res:write_json({total = total, reads = reads, biggest = biggest})
  elseif p == "/body" then
    local req = http.request()
    local body, err = req:body()
    if err then res:set_status(400) return res:write_json({kind = err:kind(), message = err:message()}) end
    local again = req:body()
    res:write_json({size = #body, sha = hash.sha256(body), same = again == body,
                    length = req:content_length(), has_body = req:has_body()})
  elseif p == "/ignore" then
    res:write("ignored")
  elseif p == "/small" then
    local req, rerr = http.request({max_body = 10})
    if not req then return res:write_json({request = rerr:kind()}) end
    local s = req:stream()
    local got, err = s:read(4)
    local rest, err2 = s:read(100)
    res:write_json({got = got, rest = rest, kind = err2 and err2:kind(), first_err = err and err:kind()})
  elseif p == "/form" then
    local req = http.request()
    local form, err = req:parse_multipart(tonumber(req:query("mem")))
    if not form then res:set_status(400) return res:write_json({kind = err:kind(), message = err:message()}) end
    local again = req:parse_multipart()
    local out = {values = form.values, same = again == form or again.values.title == form.values.title, files = {}}
    for name, list in pairs(form.files) do
      for _, f in ipairs(list) do
        local s = f:stream()
        local parts = {}
        while true do
          local c = s:read(65536)
          if not c then break end
          parts[#parts + 1] = c
        end
        local data = table.concat(parts)
        s:seek("set", 2)
        local s2 = f:stream()      -- a stream of its own, from the start
        out.files[#out.files + 1] = {field = name, name = f:name(), size = f:size(), type = f:header("content-type"),
                                     sha = hash.sha256(data), at2 = s:read(3), first = s2:read(2)}
      end
    end
    table.sort(out.files, function(a, b) return a.name < b.name end)
    if req:query("hold") then time.sleep("300ms") end
    res:write_json(out)
  elseif p == "/stat" then
    local s = http.request():stream()
    local info = s:stat()
    local _, serr = s:seek("set", 0)
    res:write_json({size = info.size, seekable = info.seekable, readable = info.readable,
                    seek = serr and serr:kind(), first = s:read(3)})
  end
end
return {handler = handler}
"""


@pytest.fixture
async def app(http_app):
    http_app.write("_index.yaml", INDEX)
    http_app.write("h.lua", HANDLER.replace('local json = require("json")',
                                            'local json = require("json")\nlocal hash = require("hash")\n'
                                            'local time = require("time")'))
    await http_app.start()
    assert http_app.runtime.errors == []
    return http_app


async def connect(app):
    port = app.http.servers["app:web"].port
    return await asyncio.open_connection("127.0.0.1", port)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def read_chunk(reader) -> bytes:
    size = int((await reader.readline()).strip(), 16)
    data = await reader.readexactly(size + 2)
    return data[:-2]


async def test_handler_reads_the_upload_while_it_arrives(app):
    reader, writer = await connect(app)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    writer.write(chunk(b"a" * 1000))
    await writer.drain()
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    assert head.startswith("HTTP/1.1 200") and "transfer-encoding: chunked" in head.lower()
    # each reply comes before the next piece is sent: the handler runs while the upload is open
    assert await asyncio.wait_for(read_chunk(reader), 5) == b"n=1000\n"
    for size, total in ((2000, 3000), (3000, 6000)):
        writer.write(chunk(b"b" * size))
        await writer.drain()
        assert await asyncio.wait_for(read_chunk(reader), 5) == b"n=%d\n" % total
    writer.write(b"0\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(read_chunk(reader), 5) == b"end 6000\n"
    writer.close()


async def test_read_timeout_of_http_request_ends_a_stalled_upload(app):
    reader, writer = await connect(app)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"xyz"))
    await writer.drain()
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert await asyncio.wait_for(read_chunk(reader), 5) == b"n=3\n"
    loop = asyncio.get_running_loop()
    t = loop.time()
    line = await asyncio.wait_for(read_chunk(reader), 5)       # the client sends nothing more
    assert line.startswith(b"error Internal: request body not received within the read timeout")
    assert 1.5 <= loop.time() - t < 4.5    # {timeout = 2000}, before the service's 5s
    writer.close()


async def test_large_upload_is_streamed_in_bounded_chunks(app):
    size = 40 * 1024 * 1024
    piece = bytes(range(256)) * 4096   # 1 MiB

    async def body():
        for _ in range(size // len(piece)):
            yield piece

    async with app.session.post(app.url("/count"), data=body()) as r:   # chunked, no length
        assert r.status == 200
        out = await r.json()
    assert out["total"] == size and out["biggest"] <= 65536 and out["reads"] >= size // 65536


async def test_curl_upload_with_expect_continue(app, tmp_path):
    data = bytes(range(256)) * 20000    # 5 MB: curl asks "Expect: 100-continue"
    f = tmp_path / "up.bin"
    f.write_bytes(data)
    proc = await asyncio.create_subprocess_exec(
        "curl", "-sS", "-v", "--data-binary", f"@{f}", "-H", "Content-Type: application/octet-stream",
        "--expect100-timeout", "30", app.url("/body"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    # the server said 100 Continue when the handler began to read, so curl did not wait 30s
    assert b"HTTP/1.1 100 Continue" in err
    assert json.loads(out) == {"size": len(data), "sha": hashlib.sha256(data).hexdigest(), "same": True,
                               "length": len(data), "has_body": True}


async def test_a_handler_that_never_reads_the_body_never_receives_it(app):
    reader, writer = await connect(app)
    writer.write(b"POST /ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n"
                 b"Expect: 100-continue\r\n\r\n")
    await writer.drain()
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    assert head.startswith("HTTP/1.1 200")   # no "100 Continue": the 50 MB were never asked for
    writer.close()
    # a reading handler asks for it
    reader, writer = await connect(app)
    writer.write(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.readline(), 5) == b"HTTP/1.1 100 Continue\r\n"
    await reader.readline()
    writer.write(b"hello")
    await writer.drain()
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode()
    assert head.startswith("HTTP/1.1 200")
    writer.close()


async def test_max_body_limits(app):
    async def gen():
        yield b"0123456789"
        yield b"ABCDEF"
    # http.request({max_body = 10}) over a body of unknown length: the read past 10 bytes is refused
    async with app.session.post(app.url("/small"), data=gen()) as r:
        assert await r.json() == {"got": "0123", "kind": "Invalid"}
    # a declared length over it: refused by http.request itself
    async with app.session.post(app.url("/small"), data=b"0123456789ABCDEF") as r:
        assert await r.json() == {"request": "Invalid"}
    # a declared length over the service's max_body: 413 before the handler runs, body never read
    reader, writer = await connect(app)
    writer.write(b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (64 * 1024 * 1024 + 1))
    await writer.drain()
    assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 413")
    writer.close()


async def test_stream_stat_and_chunked_length(app):
    async with app.session.post(app.url("/stat"), data=b"abcdef") as r:
        assert await r.json() == {"size": 6, "seekable": False, "readable": True, "seek": "Internal", "first": "abc"}

    async def gen():
        yield b"abc"
    async with app.session.post(app.url("/body"), data=gen()) as r:    # chunked: length unknown
        out = await r.json()
    assert out["size"] == 3 and out["length"] == -1 and out["has_body"] is True
    async with app.session.post(app.url("/body")) as r:
        out = await r.json()
    assert out["size"] == 0 and out["length"] == 0 and out["has_body"] is False


def upload_fds() -> int:
    """Unlinked temporary files this process holds open (uploads are, from their creation)."""
    tmp, n = tempfile.gettempdir(), 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            link = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        n += link.startswith(tmp) and link.endswith("(deleted)")
    return n


def form_data(big: bytes, small: bytes) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("title", "Report")
    form.add_field("doc", big, filename="big.bin", content_type="application/octet-stream")
    form.add_field("doc", small, filename="small.txt", content_type="text/plain")
    return form


@pytest.mark.parametrize("mem, on_disk", [(None, 0), (1024 * 1024, 1)])
async def test_multipart_files_spill_to_disk_past_max_memory(app, mem, on_disk):
    big, small = base64.b64encode(os.urandom(3 * 1024 * 1024))[:3 * 1024 * 1024], b"hello upload"
    query = "?hold=1" + (f"&mem={mem}" if mem else "")
    before = upload_fds()
    req = asyncio.ensure_future(app.session.post(app.url("/form" + query), data=form_data(big, small)))
    seen = 0
    while not req.done():          # while the handler holds the parsed form
        seen = max(seen, upload_fds())
        await asyncio.sleep(0.02)
    async with await req as r:
        out = await r.json()
    assert r.status == 200, out
    assert out["values"] == {"title": "Report"} and out["same"] is True
    assert out["files"] == [
        {"field": "doc", "name": "big.bin", "size": len(big), "type": "application/octet-stream",
         "sha": hashlib.sha256(big).hexdigest(), "at2": big[2:5].decode("latin-1"), "first": big[:2].decode("latin-1")},
        {"field": "doc", "name": "small.txt", "size": len(small), "type": "text/plain",
         "sha": hashlib.sha256(small).hexdigest(), "at2": "llo", "first": "he"}]
    # default max_memory (32 MiB): all in memory; 1 MiB: the 3 MiB file went to a temporary file
    assert seen - before == on_disk
    assert upload_fds() == before      # closed (and gone) when the request ended


async def test_multipart_errors(app):
    async with app.session.post(app.url("/form"), data=b"plain") as r:
        out = await r.json()
    assert r.status == 400 and out["kind"] == "Invalid" and "not multipart" in out["message"]
    bad = b"--XYZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue"   # never closed
    async with app.session.post(app.url("/form"), data=bad,
                                headers={"Content-Type": "multipart/form-data; boundary=XYZ"}) as r:
        out = await r.json()
    assert r.status == 400 and out["kind"] == "Invalid" and "malformed multipart" in out["message"]
    async with app.session.post(app.url("/form?mem=0"), data=form_data(b"x", b"y")) as r:
        out = await r.json()
    assert r.status == 400 and out["kind"] == "Invalid" and "max_memory" in out["message"]
