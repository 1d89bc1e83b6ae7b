"""Serving Lua endpoints over real HTTP: params, query, headers, bodies, status codes."""
from __future__ import annotations

import json

import pytest

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {{name: web, kind: http.service, addr: "127.0.0.1:0", lifecycle: {{auto_start: true}}}}
  - {{name: api, kind: http.router, meta: {{server: web}}, prefix: /api}}
  - {{name: hello, kind: function.lua, source: file://hello.lua, method: handler, modules: [http, json]}}
  - {{name: hello.get, kind: http.endpoint, meta: {{router: api}}, method: GET, path: "/hello/{{who}}", func: hello}}
  - {{name: echo, kind: function.lua, source: file://echo.lua, method: handler, modules: [http, json]}}
  - {{name: echo.post, kind: http.endpoint, meta: {{router: api}}, method: POST, path: /echo, func: echo}}
  - {{name: files.get, kind: http.endpoint, meta: {{router: api}}, method: GET, path: "/files/{{path...}}", func: echo}}
  - {{name: boom, kind: function.lua, source: file://boom.lua, method: handler, modules: [http]}}
  - {{name: boom.get, kind: http.endpoint, meta: {{router: api}}, method: GET, path: /boom, func: boom}}
{extra}"""

HELLO = """\
local http = require("http")
local function handler()
  local req = http.request()
  local res = http.response()
  res:set_header("X-Who", req:param("who"))
  res:write_json({hello = req:param("who"), q = req:query("q"), method = req:method()})
end
return {handler = handler}
"""

ECHO = """\
local http = require("http")
local json = require("json")
local function handler()
  local req, res = http.request(), http.response()
  local data, err = req:body_json()
  if err then
    res:set_status(http.STATUS.BAD_REQUEST)
    res:write_json({error = err:message()})
    return
  end
  res:set_status(201)
  res:write_json({got = data, path = req:param("path"), ctype = req:header("content-type"),
                  json = req:is_content_type(http.CONTENT.JSON), params = req:params()})
end
return {handler = handler}
"""

BOOM = """\
local function handler()
  error("kaboom")
end
return {handler = handler}
"""


@pytest.fixture
async def served(http_app):
    http_app.write("_index.yaml", INDEX.format(extra=""))
    http_app.write("hello.lua", HELLO)
    http_app.write("echo.lua", ECHO)
    http_app.write("boom.lua", BOOM)
    await http_app.start()
    assert http_app.runtime.errors == []
    return http_app


async def test_route_params_query_and_headers(served):
    async with served.session.get(served.url("/api/hello/ann?q=1")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("application/json")
        assert r.headers["X-Who"] == "ann"
        assert await r.json() == {"hello": "ann", "q": "1", "method": "GET"}


async def test_json_body_status_and_rest_of_path(served):
    async with served.session.post(served.url("/api/echo"), json={"a": [1, 2]}) as r:
        assert r.status == 201
        body = await r.json()
        assert body["got"] == {"a": [1, 2]} and body["json"] is True
    async with served.session.get(served.url("/api/files/a/b/c.txt")) as r:
        assert r.status == 400   # GET without a body: body_json says so
        assert "no body" in (await r.json())["error"]


async def test_bad_json_body_is_a_clear_400(served):
    async with served.session.post(served.url("/api/echo"), data=b"{nope",
                                   headers={"Content-Type": "application/json"}) as r:
        assert r.status == 400
        assert "not valid JSON" in (await r.json())["error"]


async def test_wrong_route_404_and_wrong_method_405(served):
    async with served.session.get(served.url("/api/nothing")) as r:
        assert r.status == 404
    async with served.session.get(served.url("/elsewhere")) as r:
        assert r.status == 404
    async with served.session.delete(served.url("/api/hello/ann")) as r:
        assert r.status == 405
        assert r.headers["Allow"] == "GET"


async def test_lua_error_gives_500_with_request_id_and_service_keeps_serving(served, caplog):
    async with served.session.get(served.url("/api/boom")) as r:
        assert r.status == 500
        body = await r.json()
        rid = body["request_id"]
        assert r.headers["X-Request-Id"] == rid
        assert "kaboom" not in json.dumps(body)   # internals stay in the log
    logged = [rec.getMessage() for rec in caplog.records if rid in rec.getMessage()]
    assert logged and "kaboom" in logged[0]
    async with served.session.get(served.url("/api/hello/bob")) as r:
        assert r.status == 200



async def test_file_edits_change_handler_and_routes_live(served):
    port = served.http.servers["app:web"].port
    version = served.runtime.registry.version
    served.write("hello.lua", HELLO.replace("hello = req:param", "hi = req:param"))
    version = await served.version_after(version)
    async with served.session.get(served.url("/api/hello/ann")) as r:
        assert (await r.json())["hi"] == "ann"
    extra = '  - {name: hello.put, kind: http.endpoint, meta: {router: api}, method: PUT, path: "/hello/{who}", func: hello}\n'
    served.write("_index.yaml", INDEX.format(extra=extra))
    await served.version_after(version)
    async with served.session.put(served.url("/api/hello/bob")) as r:
        assert (await r.json())["method"] == "PUT"
    assert served.http.servers["app:web"].port == port   # routes changed, the listener did not
