"""The one stream object of lua/core/stream.md, checked the same way on every module that
returns a stream: fs files, exec output, archive entries, http_client responses (stream = true),
HTTP request bodies (req:stream()) and uploaded files (parse_multipart, file:stream())."""
from __future__ import annotations

import textwrap

import pytest

from wippy.runtime import Runtime

CONTENT = "first line\nsecond line\n" + "x" * 40000 + "\nlast"

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: host, kind: process.host, lifecycle: {auto_start: true}}
  - {name: vol, kind: fs.directory, directory: vol, auto_init: true}
  - {name: shell, kind: exec.native, default_env: {PATH: /usr/bin:/bin}}
  - {name: web, kind: http.service, addr: "127.0.0.1:0", lifecycle: {auto_start: true}}
  - {name: api, kind: http.router, meta: {server: web}}
  - {name: serve, kind: function.lua, source: file://serve.lua, method: handler, modules: [http, json]}
  - {name: content, kind: http.endpoint, meta: {router: api}, method: GET, path: /content, func: serve}
  - {name: body, kind: http.endpoint, meta: {router: api}, method: POST, path: /body, func: serve}
  - {name: upload, kind: http.endpoint, meta: {router: api}, method: POST, path: /upload, func: serve}
  - name: check
    kind: process.lua
    source: file://check.lua
    method: main
    modules: [fs, exec, archive, http_client, json]
"""

# contract(open): runs the documented stream behaviour on fresh streams from open() and returns
# what it saw; every producer must answer the same (readable, not writable)
CONTRACT = r"""
local function contract_read(s, seekable, out)
  local _, e1 = s:read(-1)
  local _, e2 = s:read(1.5)
  out.bad_size = {e1 and e1:kind(), e2 and e2:kind()}
  local first = s:read(5)
  local chunks = {first}
  local default = s:read(0)          -- 0: the default 32 KiB chunk
  chunks[#chunks + 1] = default
  out.default_len = #default
  while true do
    local c, err = s:read()
    if err then out.read_err = err:message() break end
    if c == nil then break end
    chunks[#chunks + 1] = c
  end
  out.content = table.concat(chunks)
  local again, eerr = s:read(10)
  out.eof = {again == nil, eerr == nil}
  local info, serr = s:stat()
  out.stat = info and {position = info.position, readable = info.readable, writable = info.writable,
                       seekable = info.seekable, size = info.size} or serr:message()
  local n, werr = s:write("x")
  out.write = {n == nil, werr and werr:kind()}
  local _, bad_whence = s:seek("middle", 0)
  out.bad_whence = bad_whence and bad_whence:kind()
  if seekable then
    out.seek = s:seek("set", 6)
    out.after_seek = s:read(4)
  else
    local _, nerr = s:seek("set", 0)
    out.seek = nerr and nerr:kind()
  end
  out.flush = s:flush()
  out.close = {s:close(), s:close()}
  local _, cerr = s:read(1)
  local _, cserr = s:stat()
  out.closed = {cerr and cerr:kind(), cserr and cserr:kind()}
  local _, scerr = s:scanner("lines")
  out.closed_scanner = scerr and scerr:kind()
  return out
end

local function contract_scan(s2, out)
  local _, bad_split = s2:scanner("sentences")
  out.bad_split = bad_split and bad_split:kind()
  local sc = s2:scanner("lines")
  local lines = {}
  while true do
    local ok, err = sc:scan()
    if err then out.scan_err = err:message() break end
    if not ok then break end
    lines[#lines + 1] = #sc:text() > 20 and ("<" .. #sc:text() .. ">") or sc:text()
  end
  out.lines = lines
  out.scanner_err = sc:err()
  s2:close()
  return out
end

local function contract(open, seekable)
  return contract_scan(assert(open()), contract_read(assert(open()), seekable, {}))
end
"""

CHECK = CONTRACT + r"""
local fs = require("fs")
local exec = require("exec")
local archive = require("archive")
local http_client = require("http_client")
local json = require("json")

return {main = function(base, content, path)
  local vol = fs.get("app:vol")
  vol:writefile("/f.txt", content)
  local results = {}
  results.fs = contract(function() return vol:open("/f.txt", "r") end, true)

  local executor = exec.get("app:shell")
  results.exec = contract(function()
    local proc = executor:exec("cat " .. path)
    local out = proc:stdout_stream()
    assert(proc:start())
    return out
  end, false)

  local sink = {}
  local w = archive.create({write = function(self, d) sink[#sink + 1] = d return #d end}, {format = "zip"})
  w:add("f.txt", content)
  w:close()
  local r = archive.open(table.concat(sink), {format = "zip"})
  results.archive = contract(function() return r:stream("f.txt") end, false)
  r:close()

  results.http_client = contract(function()
    local resp, err = http_client.get(base .. "/content", {stream = true})
    if err then return nil, err end
    assert(resp.body_size == -1 and resp.status_code == 200 and resp.body == nil)
    return resp.stream
  end, false)

  local function post(path, opts)
    local resp, err = http_client.post(base .. path, opts)
    assert(resp, tostring(err))
    return json.decode(resp.body)
  end
  -- a request body can be read once: the reads and the scanner each get a request of their own
  results.request = post("/body", {body = content})
  for k, v in pairs(post("/body?scan=1", {body = content})) do results.request[k] = v end
  results.upload = post("/upload", {form = {title = "T"}, files = {
    {name = "doc", filename = "f.txt", content = content, content_type = "text/plain"}}})
  return results
end}
"""

SERVE = CONTRACT + r"""
local http = require("http")
local json = require("json")
local function handler()
  local req, res = http.request(), http.response()
  local p = req:path()
  if p == "/content" then
    res:write(req:query("c") or CONTENT)
    return
  end
  local out
  if p == "/body" then
    out = req:query("scan") and contract_scan(req:stream(), {}) or contract_read(req:stream(), false, {})
  else
    local form, err = req:parse_multipart()
    assert(form, tostring(err))
    local file = form.files.doc[1]
    out = contract(function() return file:stream() end, true)
    out.upload = {title = form.values.title, name = file:name(), size = file:size(),
                  content_type = file:header("Content-Type")}
  end
  res:write_json(out)
end
return {handler = handler}
"""


@pytest.fixture
async def rt(tmp_path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "check.lua").write_text(CHECK)
    (tmp_path / "serve.lua").write_text(SERVE.replace("CONTENT", repr(CONTENT).replace("'", '"')))
    runtime = Runtime(tmp_path, node_name="test", persist_history=False)
    await runtime.start()
    assert not runtime.errors, runtime.errors
    yield runtime
    from wippy.http.manager import HttpManager
    await HttpManager.of(runtime).close()
    await runtime.stop()


def expected(seekable: bool) -> dict:
    lines = ["first line", "second line", "<40000>", "last"]
    out = {
        "bad_size": ["Invalid", "Invalid"], "default_len": 32768, "content": True, "eof": [True, True],
        "stat": {"position": len(CONTENT), "readable": True, "writable": False, "seekable": seekable},
        "write": [True, "Internal"], "bad_whence": "Invalid", "flush": True, "close": [True, True],
        "closed": ["Internal", "Internal"], "closed_scanner": "Internal", "bad_split": "Invalid",
        "lines": lines,
    }
    out["seek"] = 6 if seekable else "Internal"
    if seekable:
        out["after_seek"] = "line"
    return out


def observed(res: dict) -> dict:
    res = dict(res)
    stat = dict(res.pop("stat"))
    size = stat.pop("size")
    res["stat"] = stat
    res.pop("upload", None)
    res["content"] = res["content"] == CONTENT
    return res, size


async def test_every_producer_returns_the_same_stream(rt, tmp_path):
    from wippy.http.manager import HttpManager
    base = f"http://127.0.0.1:{HttpManager.of(rt).servers['app:web'].port}"
    res = await rt.node.exec("app:check", "app:host", [base, CONTENT, str(tmp_path / "vol" / "f.txt")])
    for name, seekable, size in (("fs", True, len(CONTENT)), ("exec", False, -1), ("archive", False, -1),
                                 ("http_client", False, -1), ("request", False, len(CONTENT)),
                                 ("upload", True, len(CONTENT))):
        got, got_size = observed(res[name])
        assert got == expected(seekable), f"{name}:\n{textwrap.indent(repr(got), '  ')}"
        assert got_size == size, name
    assert res["upload"]["upload"] == {"title": "T", "name": "f.txt", "size": len(CONTENT),
                                       "content_type": "text/plain"}


EDGES = r"""
local fs = require("fs")
local http_client = require("http_client")
return {main = function(base, slow)
  local out = {}
  local _, berr = http_client.request_batch({{"GET", base .. "/content", {stream = true}}})
  out.batch = berr and berr:kind()
  local _, big = http_client.get(base .. "/content", {stream = true, max_response_body = 10})
  out.max_body = big and big:kind()
  -- a stream as the data of fs:writefile is copied chunk by chunk; the documented aliases
  local vol = fs.get("app:vol")
  local resp = http_client.get(base .. "/content?c=streamed", {stream = true})
  out.copied = {vol:write_file("/copy.txt", resp.stream), vol:read_file("/copy.txt")}
  -- parse_multipart of a body that is not multipart, http.request's options
  local r = http_client.post(base .. "/body?edge=1", {body = "plain"})
  out.request = r.body
  -- left open: released when this process ends
  local open = http_client.get(slow, {stream = true})
  out.first = open.stream:read(5)
  return out
end}
"""

SERVE_EDGES = r"""
local http = require("http")
local json = require("json")
return {handler = function()
  local res = http.response()
  local req = http.request()
  if req:query("edge") then
    local _, merr = req:parse_multipart()
    local _, berr = http.request({max_body = 2})
    local _, oerr = http.request({unknown = 1})
    local ok = http.request({max_body = 100, timeout = 5000})
    res:write_json({multipart = merr:kind(), max_body = berr:kind(), unknown = oerr:kind(), ok = ok ~= nil})
    return
  end
  res:write(req:query("c") or string.rep("y", 100))
end}
"""


async def test_stream_edges_and_release(tmp_path):
    import asyncio

    from aiohttp import web

    gone = asyncio.Event()

    async def slow(request):
        resp = web.StreamResponse()
        await resp.prepare(request)
        try:
            for _ in range(500):
                await resp.write(b"chunk")
                await asyncio.sleep(0.02)
        except (ConnectionError, RuntimeError):
            gone.set()
        return resp

    server = web.Application()
    server.router.add_get("/slow", slow)
    runner = web.AppRunner(server)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    slow_url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/slow"
    (tmp_path / "_index.yaml").write_text(INDEX.replace("file://check.lua", "file://edges.lua")
                                          .replace("file://serve.lua", "file://serve_edges.lua"))
    (tmp_path / "edges.lua").write_text(EDGES)
    (tmp_path / "serve_edges.lua").write_text(SERVE_EDGES)
    runtime = Runtime(tmp_path, node_name="test", persist_history=False)
    await runtime.start()
    try:
        assert not runtime.errors, runtime.errors
        from wippy.http.manager import HttpManager
        base = f"http://127.0.0.1:{HttpManager.of(runtime).servers['app:web'].port}"
        out = await runtime.node.exec("app:check", "app:host", [base, slow_url])
        assert out["batch"] == "Invalid" and out["max_body"] == "Invalid"
        assert out["copied"] == [True, "streamed"]
        import json
        assert json.loads(out["request"]) == {"multipart": "Invalid", "max_body": "Invalid", "unknown": "Invalid",
                                              "ok": True}
        assert out["first"] == "chunk"
        await asyncio.wait_for(gone.wait(), 5)   # the process ended: its open response was closed
    finally:
        await HttpManager.of(runtime).close()
        await runtime.stop()
        await runner.cleanup()
