"""Actors, scopes and policies (reference §6): an agent may change only what its policy grants."""
import asyncio
from pathlib import Path

import pytest

from wippy.runtime import Runtime
from wippy.security.policy import ALLOW, DENY, UNDEFINED, Condition, Policy, evaluate_scope, pattern_matches

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: tools.allow
    kind: security.policy
    groups: [agents]
    policy:
      actions: ["funcs.call", "registry.apply"]
      resources: ["app.tools:*", "app:public*"]
  - name: core.deny
    kind: security.policy
    groups: [agents]
    policy: {actions: "registry.*", resources: "app:*", effect: deny}
  - name: spawn.allow
    kind: security.policy
    groups: [agents]
    policy:
      actions: ["process.spawn", "process.host"]
      resources: "*"
      conditions: [{field: actor.meta.role, operator: eq, value: agent}]
  - {name: public_fn, kind: function.lua, method: f, source: "return function() return 'public' end"}
  - {name: secret, kind: function.lua, method: f, source: "return function() return 'secret' end"}
  - name: agent
    kind: process.lua
    method: main
    modules: [funcs, registry, security]
    source: |
      local funcs = require("funcs")
      local registry = require("registry")
      local security = require("security")
      return function()
        local out = {actor = security.actor() and security.actor():id()}
        out.public = funcs.call("app:public_fn")
        local _, e1 = funcs.call("app:secret")
        out.secret = e1 and e1:kind()
        local v, e2 = registry.snapshot():changes():create({id = "app.tools:made", kind = "registry.entry", data = {x = 1}}):apply()
        out.own_ns = v ~= nil or tostring(e2)
        local _, e3 = registry.snapshot():changes():create({id = "app:core_thing", kind = "registry.entry", data = {}}):apply()
        out.core = e3 and e3:kind()
        out.can_call = security.can("funcs.call", "app:public_fn")
        out.can_secret = security.can("funcs.call", "app:secret")
        return out
      end
  - name: agent.service
    kind: process.service
    process: agent_loop
    host: procs
    lifecycle:
      auto_start: true
      stop_timeout: 100ms
      security:
        actor: {id: agent-7, meta: {role: agent}}
        groups: [agents]
  - name: agent_loop
    kind: process.lua
    method: main
    modules: [security]
    source: |
      local security = require("security")
      return function()
        process.registry.register("agent")
        while true do
          local m = process.inbox():receive()
          local child, err = process.spawn("app:public_worker", "app:procs")
          process.send(m:from(), "me", {id = security.actor():id(), spawned = child ~= nil})
        end
      end
  - {name: public_worker, kind: process.lua, method: main, source: "return function() end"}
  - name: ask
    kind: process.lua
    method: main
    source: |
      return function()
        process.send("agent", "who", true)
        return process.inbox():receive():payload():data()
      end
"""


def test_patterns():
    assert pattern_matches("*", "x")
    assert pattern_matches(["a:b"], "a:b") and not pattern_matches(["a:b"], "a:bc")
    assert pattern_matches("registry.*", "registry.apply") and pattern_matches("app.tools:*", "app.tools:x")
    assert not pattern_matches("registry.*", "funcs.call")


def test_scope_deny_wins_and_undefined_is_not_allow():
    allow = Policy("a", "*", "*")
    deny = Policy("d", "funcs.call", "app:x", effect=DENY)
    cond = Policy("c", "*", "*", conditions=(Condition("actor.meta.level", "gte", 3),))
    actor = {"id": "u", "meta": {"level": 2}}
    assert evaluate_scope([allow, deny], actor, "funcs.call", "app:x") == DENY
    assert evaluate_scope([allow, deny], actor, "funcs.call", "app:y") == ALLOW
    assert evaluate_scope([cond], actor, "any", "thing") == UNDEFINED
    assert evaluate_scope([cond], {"id": "u", "meta": {"level": 5}}, "any", "thing") == ALLOW
    # a condition on a missing field is undefined, never an error
    assert evaluate_scope([cond], {"id": "u"}, "any", "thing") == UNDEFINED


@pytest.fixture
async def rt(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    runtime = Runtime(tmp_path, node_name="t")
    await runtime.start()
    assert runtime.errors == []
    yield runtime
    await runtime.stop()


async def test_agent_changes_only_what_its_policy_grants(rt):
    scope = ["app:tools.allow", "app:core.deny", "app:spawn.allow"]
    r = await rt.node.exec("app:agent", "app:procs", [],
                           options={"actor": {"id": "agent-1", "meta": {"role": "agent"}}, "scope": scope})
    assert r == {"actor": "agent-1", "public": "public", "secret": "PermissionDenied", "own_ns": True,
                 "core": "PermissionDenied", "can_call": True, "can_secret": False}
    assert rt.registry.get("app.tools:made") is not None
    assert rt.registry.get("app:core_thing") is None


async def test_without_identity_everything_is_allowed_unless_strict(rt):
    r = await rt.node.exec("app:agent", "app:procs", [])
    assert r.get("actor") is None and r.get("secret") is None and r.get("core") is None
    assert r["own_ns"] is True and rt.registry.get("app:core_thing") is not None


async def test_service_runs_under_its_lifecycle_identity(rt):
    for _ in range(100):
        if rt.node.lookup_name("agent"):
            break
        await asyncio.sleep(0.02)
    r = await rt.node.exec("app:ask", "app:procs", [])
    assert r == {"id": "agent-7", "spawned": True}
