"""token_auth, endpoint_firewall, resource_firewall and sendfile on a real listener, loaded from YAML;
the service's lifecycle.security as the identity of requests without a token."""
from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from wippy.http.manager import HttpManager
from wippy.runtime import Runtime

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: token_data, kind: store.memory}
  - {name: tokens, kind: security.token_store, store: token_data}
  - name: readers
    kind: security.policy
    policy: {actions: access, resources: ["app:whoami", "app:download"]}
  - name: admins
    kind: security.policy
    policy: {actions: admin, resources: "app:panel"}
  - name: gateway
    kind: http.service
    addr: 127.0.0.1:0
    lifecycle:
      auto_start: true
      security:
        actor: {id: anonymous}
        policies: []
  - name: api
    kind: http.router
    meta: {server: gateway}
    prefix: /api
    middleware: [token_auth, sendfile]
    options:
      token_auth.store: app:tokens
      sendfile.fs: app:files
    post_middleware: [endpoint_firewall]
  - name: admin
    kind: http.router
    meta: {server: gateway}
    prefix: /admin
    middleware: [token_auth]
    options: {token_auth.store: app:tokens, token_auth.header.name: X-Token, token_auth.header.prefix: ""}
    post_middleware: [resource_firewall]
    post_options: {resource_firewall.action: admin, resource_firewall.target: app:panel}
  - {name: files, kind: fs.embed, files: {"report.txt": "0123456789"}}
  - name: whoami
    kind: function.lua
    method: main
    modules: [http, security]
    source: |
      local http = require("http")
      local security = require("security")
      return {main = function()
        local a = security.actor()
        http.response():write_json({id = a and a:id()})
      end}
  - name: download
    kind: function.lua
    method: main
    modules: [http]
    source: |
      local http = require("http")
      return {main = function()
        local res = http.response()
        res:set_header("X-Sendfile", "report.txt")
        res:set_header("X-File-Name", "r.txt")
      end}
  - {name: whoami.get, kind: http.endpoint, meta: {router: api}, method: GET, path: /whoami, func: whoami}
  - {name: download.get, kind: http.endpoint, meta: {router: api}, method: GET, path: /download, func: download}
  - {name: panel.get, kind: http.endpoint, meta: {router: admin}, method: GET, path: /panel, func: whoami}
  - name: issue
    kind: function.lua
    method: main
    modules: [security]
    source: |
      local security = require("security")
      return {main = function(id, policy)
        local store = security.token_store("app:tokens")
        return store:create(security.new_actor(id), security.new_scope({policy}))
      end}
"""


@pytest.fixture
async def app(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    rt = Runtime(tmp_path, node_name="t", persist_history=False)
    await rt.start()
    assert rt.errors == []
    port = HttpManager.of(rt).servers["app:gateway"].port
    async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}") as s:
        yield rt, s
    await rt.stop()


async def test_token_auth_sets_the_actor_and_the_endpoint_firewall_checks_its_scope(app):
    rt, s = app
    reader = await rt.call("app:issue", "user:1", "app:readers")
    async with s.get("/api/whoami", headers={"Authorization": f"Bearer {reader}"}) as r:
        assert r.status == 200 and await r.json() == {"id": "user:1"}
    async with s.get(f"/api/whoami?x-auth-token={reader}") as r:          # query fallback
        assert await r.json() == {"id": "user:1"}
    s.cookie_jar.update_cookies({"x-auth-token": reader})                  # cookie fallback
    async with s.get("/api/whoami") as r:
        assert await r.json() == {"id": "user:1"}
    s.cookie_jar.clear()
    # no token: the service's own identity, whose scope grants nothing
    async with s.get("/api/whoami") as r:
        assert r.status == 403
    async with s.get("/api/whoami", headers={"Authorization": "Bearer forged"}) as r:
        assert r.status == 403
    admin_only = await rt.call("app:issue", "user:2", "app:admins")
    async with s.get("/api/whoami", headers={"Authorization": f"Bearer {admin_only}"}) as r:
        assert r.status == 403


async def test_resource_firewall_guards_a_fixed_resource(app):
    rt, s = app
    admin = await rt.call("app:issue", "root", "app:admins")
    reader = await rt.call("app:issue", "user:1", "app:readers")
    async with s.get("/admin/panel", headers={"X-Token": admin}) as r:
        assert r.status == 200 and await r.json() == {"id": "root"}
    async with s.get("/admin/panel", headers={"X-Token": reader}) as r:
        assert r.status == 403


async def test_firewall_without_any_actor_answers_401(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX.replace(
        "      security:\n        actor: {id: anonymous}\n        policies: []\n", ""))
    rt = Runtime(tmp_path, node_name="t", persist_history=False)
    await rt.start()
    try:
        port = HttpManager.of(rt).servers["app:gateway"].port
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{port}/api/whoami") as r:
                assert r.status == 401
    finally:
        await rt.stop()


async def test_sendfile_serves_the_named_file_with_ranges(app):
    rt, s = app
    reader = await rt.call("app:issue", "user:1", "app:readers")
    auth = {"Authorization": f"Bearer {reader}"}
    async with s.get("/api/download", headers=auth) as r:
        assert r.status == 200 and await r.text() == "0123456789"
        assert r.headers["Content-Disposition"] == 'attachment; filename="r.txt"'
        assert "X-Sendfile" not in r.headers
    async with s.get("/api/download", headers={**auth, "Range": "bytes=2-4"}) as r:
        assert r.status == 206 and await r.text() == "234"


def test_unknown_and_incomplete_middleware_options_are_refused():
    from wippy.kinds.models import EntryInvalid, validate_entry
    from wippy.registry import Entry
    with pytest.raises(EntryInvalid, match="unknown middleware 'token_aut'"):
        validate_entry(Entry("app:r", "http.router", {}, {"middleware": ["token_aut"]}))
