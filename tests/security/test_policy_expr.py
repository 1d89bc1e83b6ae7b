"""security.policy.expr: a policy whose match is an expr-lang expression over actor, action,
resource and meta; loaded from YAML and checked by code running under an actor and a scope."""
from pathlib import Path

import pytest

from wippy.kinds.models import EntryInvalid, validate_entry
from wippy.registry import Entry
from wippy.runtime import Runtime

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: owner_or_admin
    kind: security.policy.expr
    groups: [editors]
    policy:
      actions: [read, write]
      resources: "doc:*"
      effect: allow
      expression: 'actor.id == meta.owner || actor.meta.role == "admin" || (action == "read" && meta.public == true)'
  - name: no_archive_writes
    kind: security.policy.expr
    groups: [editors]
    policy:
      actions: write
      resources: "doc:*"
      effect: deny
      expression: 'meta.archived == true'
  - name: check
    kind: process.lua
    method: main
    modules: [security]
    source: |
      local security = require("security")
      return function()
        return {
          own = security.can("write", "doc:1", {owner = "ann"}),
          other = security.can("write", "doc:1", {owner = "bob"}),
          public_read = security.can("read", "doc:2", {owner = "bob", public = true}),
          archived = security.can("write", "doc:3", {owner = "ann", archived = true}),
          elsewhere = security.can("write", "img:1", {owner = "ann"}),
          missing_meta = security.can("write", "doc:4"),
        }
      end
"""


@pytest.fixture
async def rt(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    runtime = Runtime(tmp_path, node_name="t", persist_history=False)
    await runtime.start()
    assert runtime.errors == []
    yield runtime
    await runtime.stop()


async def run_as(rt, actor: dict) -> dict:
    from wippy.security.store import PolicyStore
    scope = PolicyStore(rt.registry).group("app:editors")
    return await rt.node.exec("app:check", "app:procs", [], options={"actor": actor, "scope": scope})


async def test_expression_policies_decide_by_actor_action_resource_and_meta(rt):
    assert await run_as(rt, {"id": "ann", "meta": {"role": "user"}}) == {
        "own": True, "other": False, "public_read": True, "archived": False, "elsewhere": False,
        "missing_meta": False}
    admin = await run_as(rt, {"id": "root", "meta": {"role": "admin"}})
    assert admin["other"] is True and admin["archived"] is False   # a matching deny wins


def test_an_expression_that_does_not_parse_is_refused_at_load():
    with pytest.raises(EntryInvalid, match="expression does not parse"):
        validate_entry(Entry("app:p", "security.policy.expr", {}, {
            "policy": {"actions": "*", "resources": "*", "expression": "actor.id == ("}}))


TOKENS = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - {name: token_data, kind: store.memory}
  - name: tokens
    kind: security.token_store
    store: token_data
    token_length: 24
    default_expiration: 1h
    token_key: "${env:WIPPY_TEST_TOKEN_KEY|dev-key}"
  - name: readers
    kind: security.policy
    policy: {actions: read, resources: "*"}
  - name: login
    kind: process.lua
    method: main
    modules: [security, time]
    source: |
      local security = require("security")
      local time = require("time")
      return function(forged)
        local store, err = security.token_store("app:tokens")
        if not store then return {err = tostring(err)} end
        local actor = security.new_actor("user:7", {role = "reader"})
        local token = store:create(actor, security.new_scope({"app:readers"}), {meta = {ip = "1.2.3.4"}})
        local a, s, verr = store:validate(token)
        local out = {token = token, id = a and a:id(), role = a and a:meta().role,
                     has_readers = s and s:contains("app:readers")}
        local _, _, ferr = store:validate(token .. "x")
        out.forged = ferr and tostring(ferr)
        store:revoke(token)
        local _, _, rerr = store:validate(token)
        out.revoked = rerr and tostring(rerr)
        local short = store:create(actor, nil, {expiration = "50ms"})
        time.sleep("120ms")
        local _, _, eerr = store:validate(short)
        out.expired = eerr and tostring(eerr)
        local _, missing = security.token_store("app:nope")
        out.missing = tostring(missing)
        return out
      end
"""


async def test_token_store_creates_validates_revokes_and_expires_tokens(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(TOKENS)
    runtime = Runtime(tmp_path, node_name="t", persist_history=False)
    await runtime.start()
    try:
        assert runtime.errors == []
        out = await runtime.node.exec("app:login", "app:procs", [])
        assert out["id"] == "user:7" and out["role"] == "reader" and out["has_readers"] is True
        assert len(out["token"].split(".")[0]) == 32           # 24 random bytes, base64url
        assert "invalid token" in out["forged"]
        assert "invalid or expired" in out["revoked"] and "invalid or expired" in out["expired"]
        assert "token store app:nope not found" in out["missing"]
        from wippy.data import Resources
        kept = Resources.of(runtime.node).store("app:token_data")
        assert out["token"] not in str(kept.__dict__)            # the store holds hashes, not tokens
    finally:
        await runtime.stop()
