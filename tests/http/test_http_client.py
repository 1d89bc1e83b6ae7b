"""http_client against a real aiohttp server on loopback: methods, options, the response
table, binary bodies, and clear errors."""
from __future__ import annotations

import pytest
from aiohttp import web

from wippy.registry import Entry, Op
from wippy.runtime import Runtime

CLIENT = """\
local client = require("http_client")
local json = require("json")
return {call = function(method, url, opts)
  local resp, err = client.request(method, url, opts)
  if err then return {kind = err:kind(), message = err:message()} end
  return resp
end, get = function(url)
  local resp, err = client.get(url, {headers = {["X-A"] = "1"}, query = {q = "a b"}, timeout = "5s"})
  if err then return nil, err end
  return resp
end, bin = function(url)
  local resp, err = client.get(url)
  if err then return nil, err end
  return {resp.body:byte(1, -1)}
end, batch = function(base)
  local responses, errs = client.request_batch({{method = "GET", url = base .. "/echo"},
                                                 {method = "GET", url = "http://127.0.0.1:1/x"}})
  return {responses[1].status_code, errs[2]:kind(), client.encode_uri("a b/c"), client.decode_uri("a+b%2Fc")}
end}
"""


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    resp = web.json_response({"method": request.method, "query": dict(request.query), "x_a": request.headers.get("X-A"),
                              "auth": request.headers.get("Authorization"), "body": list(body),
                              "form": dict(await request.post()) if request.content_type.startswith("application/x-www") else None})
    resp.set_cookie("session", "abc")
    return resp


def fixed(body: bytes):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body)
    return handler


@pytest.fixture
async def env():
    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_get("/big", fixed(b"y" * 5000))
    app.router.add_get("/bin", fixed(bytes([0, 200, 255])))

    async def jump(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])
    app.router.add_get("/jump", jump)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    rt = Runtime(None, node_name="test", persist_history=False)
    await rt.start()
    await rt.registry.apply([Op.create(Entry("app:client", "function.lua", data={
        "source": CLIENT, "method": "call", "modules": ["http_client", "json"]}))] + [
        Op.create(Entry(f"app:{m}", "function.lua", data={"source": CLIENT, "method": m, "modules": ["http_client", "json"]}))
        for m in ("get", "bin", "batch")])
    yield rt, base
    await rt.stop()
    await runner.cleanup()


async def test_get_with_headers_query_and_response_table(env):
    rt, base = env
    resp = await rt.call("app:get", base + "/echo")
    assert resp["status_code"] == 200
    assert resp["headers"]["Content-Type"].startswith("application/json")
    assert resp["cookies"] == {"session": "abc"}
    assert resp["url"].startswith(base + "/echo?q=a")
    assert resp["body_size"] == len(resp["body"])
    import json
    body = json.loads(resp["body"])
    assert body["method"] == "GET" and body["query"] == {"q": "a b"} and body["x_a"] == "1"


async def test_post_binary_body_form_and_auth(env):
    rt, base = env
    import json
    r = await rt.call("app:client", "POST", base + "/echo", {"auth": {"user": "u", "pass": "p"}})
    body = json.loads(r["body"])
    assert body["auth"].startswith("Basic ")
    r = await rt.call("app:client", "PUT", base + "/echo", {"form": {"a": "1"}})
    assert json.loads(r["body"])["form"] == {"a": "1"}
    assert await rt.call("app:bin", base + "/bin") == [0, 200, 255]


async def test_errors_are_clear(env):
    rt, base = env
    r = await rt.call("app:client", "GET", "ftp://x", None)
    assert r["kind"] == "Invalid" and "http://" in r["message"]
    r = await rt.call("app:client", "GET", base + "/big", {"max_response_body": 100})
    assert r["kind"] == "Invalid" and "max_response_body" in r["message"]
    r = await rt.call("app:client", "GET", "http://127.0.0.1:1/", {"timeout": "2s"})
    assert r["kind"] == "Internal"       # lua/http/client.md: network failures are INTERNAL, retryable
    r = await rt.call("app:client", "GET", base + "/echo", {"bogus": 1})
    assert r["kind"] == "Invalid" and "bogus" in r["message"]
    r = await rt.call("app:client", "GET", base + "/echo", {"timeout": "soon"})
    assert r["kind"] == "Invalid" and "timeout" in r["message"]
    # network overlays are not implemented: refused, never sent out directly instead
    r = await rt.call("app:client", "GET", base + "/echo", {"overlay_network": "app.net:proxy"})
    assert r["kind"] == "Invalid" and "app.net:proxy" in r["message"] and "not supported" in r["message"]


async def test_batch_and_uri_helpers(env):
    rt, base = env
    assert await rt.call("app:batch", base) == [200, "Internal", "a+b%2Fc", "a b/c"]


async def test_permissions(env):
    """http_client.request on the URL, http_client.private_ip on each private address the host is
    (loopback here), http_client.unix_socket on the path and http_client.insecure_tls on the URL:
    each PERMISSION_DENIED when the caller lacks it."""
    rt, base = env
    await rt.registry.apply([
        Op.create(Entry("app:req", "security.policy", data={"policy": {
            "actions": "http_client.request", "resources": "*", "effect": "allow"}})),
        Op.create(Entry("app:priv", "security.policy", data={"policy": {
            "actions": "http_client.private_ip", "resources": "127.0.0.1", "effect": "allow"}})),
        Op.create(Entry("app:local", "security.policy", data={"policy": {
            "actions": "*", "resources": "*", "effect": "allow"}}))])
    actor = {"id": "u1"}

    async def call(opts, *scope):
        return await rt.call("app:client", "GET", base + "/echo", opts, actor=actor, scope=list(scope))
    r = await call(None, "app:req")
    assert r["kind"] == "PermissionDenied" and r["message"] == "not allowed: private IP 127.0.0.1"
    assert (await call(None, "app:req", "app:priv"))["status_code"] == 200
    r = await call({"unix_socket": "/tmp/none.sock"}, "app:req", "app:priv")
    assert r["kind"] == "PermissionDenied" and "http_client.unix_socket" in r["message"]
    r = await call({"tls": {"insecure_skip_verify": True}}, "app:req", "app:priv")
    assert r["kind"] == "PermissionDenied" and "http_client.insecure_tls" in r["message"]
    r = await call(None)
    assert r["kind"] == "PermissionDenied" and "http_client.request" in r["message"]
    assert (await call({"tls": {"insecure_skip_verify": True}}, "app:local"))["status_code"] == 200
    # a name that resolves to a private address is checked on the address
    r = await rt.call("app:client", "GET", base.replace("127.0.0.1", "localhost") + "/echo", None,
                      actor=actor, scope=["app:req"])
    assert r["kind"] == "PermissionDenied" and "private IP" in r["message"]
    # a redirect to a private address the caller may not reach (a literal IP: not resolved)
    port = base.rsplit(":", 1)[1]
    r = await rt.call("app:client", "GET", f"{base}/jump?to=http://127.0.0.2:{port}/echo", None, actor=actor,
                      scope=["app:req", "app:priv"])
    assert r["kind"] == "PermissionDenied" and "127.0.0.2" in r["message"]
    r = await call({"private_ok": ["127.0.0.1"]}, "app:req")     # the runtime's own option, not the caller's
    assert r["kind"] == "Invalid" and "private_ok" in r["message"]


async def test_files_reader_is_read_into_the_upload(env):
    rt, base = env
    await rt.registry.apply([Op.create(Entry("app:upload", "function.lua", data={"modules": ["http_client"], "method": "f",
        "source": """local c = require("http_client")
return {f = function(url)
  local parts = {"abc", "def"}
  local reader = {read = function(self) return table.remove(parts, 1) end}
  local resp, err = c.post(url, {files = {{name = "doc", filename = "d.txt", reader = reader}}})
  if err then return err:message() end
  return resp.body
end}"""}))])
    import json
    body = json.loads(await rt.call("app:upload", base + "/echo"))
    assert bytes(body["body"]).count(b"abcdef") == 1 and b'filename="d.txt"' in bytes(body["body"])
