"""Streaming (chunked, SSE), oversized bodies, middleware and static files over real HTTP."""
from __future__ import annotations

import gzip

import pytest

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: web, kind: http.service, addr: "127.0.0.1:0", max_body: 1KiB, lifecycle: {auto_start: true}}
  - name: api
    kind: http.router
    meta: {server: web}
    prefix: /api
    middleware: [cors, compress, real_ip, ratelimit, metrics]
    options:
      cors.allow.origins: "https://a.example"
      compress.min_size: 100
      ratelimit: {requests: 5, window: 1m}
  - {name: h, kind: function.lua, source: file://h.lua, method: handler, modules: [http, json, time]}
  - {name: sse, kind: http.endpoint, meta: {router: api}, method: GET, path: /events, func: h}
  - {name: chunks, kind: http.endpoint, meta: {router: api}, method: GET, path: /chunks, func: h}
  - {name: big, kind: http.endpoint, meta: {router: api}, method: GET, path: /big, func: h}
  - {name: upload, kind: http.endpoint, meta: {router: api}, method: POST, path: /upload, func: h}
  - {name: ip, kind: http.endpoint, meta: {router: api}, method: GET, path: /ip, func: h}
  - {name: site, kind: http.static, meta: {server: web}, path: /, directory: public, static_options: {spa: true}}
"""

HANDLER = """\
local http = require("http")
local time = require("time")
local function handler()
  local req, res = http.request(), http.response()
  local p = req:path()
  if p == "/api/events" then
    for i = 1, 3 do
      local err = res:write_event({name = "tick", id = i, data = {n = i}})
      if err then return nil, err end
      time.sleep("10ms")
    end
  elseif p == "/api/chunks" then
    res:set_transfer(http.TRANSFER.CHUNKED)
    res:set_header("X-Mode", "chunked")
    res:write("a")
    res:flush()
    res:write("b")
    local late = res:set_status(201)
    res:write(late and "c:" .. late:message() or "c")
  elseif p == "/api/big" then
    res:write(string.rep("x", 5000))
  elseif p == "/api/upload" then
    local body = req:body()
    res:write_json({size = #body, bytes = {body:byte(1, -1)}})
  elseif p == "/api/ip" then
    res:write(req:remote_addr())
  end
end
return {handler = handler}
"""


@pytest.fixture
async def app(http_app):
    http_app.write("_index.yaml", INDEX)
    http_app.write("h.lua", HANDLER)
    (http_app.root / "public").mkdir()
    (http_app.root / "public" / "index.html").write_text("<h1>home</h1>")
    (http_app.root / "public" / "app.js").write_text("console.log(1)")
    (http_app.root / "secret.txt").write_text("no")
    await http_app.start()
    assert http_app.runtime.errors == []
    return http_app


async def test_sse_events_stream(app):
    async with app.session.get(app.url("/api/events")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        text = await r.text()
    assert text == "".join(f'id: {i}\nevent: tick\ndata: {{"n":{i}}}\n\n' for i in range(1, 4))


async def test_chunked_writes_and_status_after_headers_is_an_error(app):
    async with app.session.get(app.url("/api/chunks")) as r:
        assert r.headers["Transfer-Encoding"] == "chunked" and r.headers["X-Mode"] == "chunked"
        assert r.status == 200
        assert await r.text() == "abc:response headers were already sent"


async def test_oversized_body_is_413_and_binary_body_is_exact(app):
    async with app.session.post(app.url("/api/upload"), data=b"x" * 2000) as r:
        assert r.status == 413
    payload = bytes([0, 255, 128, 10, 65])
    async with app.session.post(app.url("/api/upload"), data=payload) as r:
        assert r.status == 200
        assert await r.json() == {"size": 5, "bytes": list(payload)}


async def test_cors_preflight_and_headers(app):
    async with app.session.options(app.url("/api/events"), headers={
            "Origin": "https://a.example", "Access-Control-Request-Method": "GET"}) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "https://a.example"
    async with app.session.get(app.url("/api/ip"), headers={"Origin": "https://evil.example"}) as r:
        assert "Access-Control-Allow-Origin" not in r.headers


async def test_compress_and_real_ip(app):
    async with app.session.get(app.url("/api/big"), headers={"Accept-Encoding": "gzip"}, auto_decompress=False) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await r.read()) == b"x" * 5000
    async with app.session.get(app.url("/api/ip"), headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"}) as r:
        assert await r.text() == "203.0.113.9"


async def test_ratelimit_answers_429(app):
    statuses = []
    for _ in range(7):
        async with app.session.get(app.url("/api/ip"), headers={"X-Forwarded-For": "198.51.100.1"}) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) >= 1
    assert statuses.count(200) <= 5 and statuses[-1] == 429


async def test_static_files_spa_fallback_and_confinement(app):
    async with app.session.get(app.url("/app.js")) as r:
        assert r.status == 200 and await r.text() == "console.log(1)"
    async with app.session.get(app.url("/some/client/route")) as r:
        assert await r.text() == "<h1>home</h1>"
    async with app.session.get(app.url("/%2e%2e/secret.txt")) as r:
        assert "no" != await r.text()
    async with app.session.post(app.url("/app.js")) as r:
        assert r.status == 405


async def test_metrics_count_requests_by_route_and_status(app):
    from wippy.metrics import REGISTRY  # what the runtime's /metrics serves
    labels = {"service": "app:web", "method": "GET", "route": "/api/ip", "status": "200"}
    before = REGISTRY.get_sample_value("wippy_http_requests_total", labels) or 0
    async with app.session.get(app.url("/api/ip")) as r:
        assert r.status == 200
    assert REGISTRY.get_sample_value("wippy_http_requests_total", labels) == before + 1
