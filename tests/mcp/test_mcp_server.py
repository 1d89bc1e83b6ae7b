"""`wippy mcp` driven through the official SDK's client, over stdio and streamable HTTP, against
an app that `wippy run` serves: each tool, grants that refuse and change nothing, revocation that
holds from the next call, and every change in `wippy history` under the token's actor."""
import json
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from tests.harness.agents import HttpServer, RunningApp, ToolFailed, call, http_session, stdio_session, wippy

HERE = Path(__file__).resolve().parent

GREET_V2 = 'return {greet = function(who) return "Hi, " .. (who or "world") .. "!" end}'


def fn(entry_id: str, source: str, **extra) -> dict:
    return {"id": entry_id, "kind": "function.lua", "source": source, "method": extra.pop("method", "main"), **extra}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    running = RunningApp(HERE / "app", tmp_path_factory.mktemp("mcp") / "app")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def agent(app):
    return app.token("agent-1")


def version_of(app) -> int:
    [head] = [ln for ln in app.history() if ln.startswith("*")]
    return int(head.split()[1])


async def test_reading_tools_over_stdio(app, agent):
    async with stdio_session(app.dir, agent["token"]) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert names == {"list_entries", "find_entries", "read_entry", "read_source", "lint", "apply", "run_tests",
                         "history", "diff", "rollback", "logs", "metrics"}
        ids = [e["id"] for e in await call(s, "list_entries", kind="function.lua")]
        assert {"app:greet", "app:greet_test", "ops:secret"} <= set(ids)
        assert [e["id"] for e in await call(s, "list_entries", namespace="ops")] == ["ops:secret"]
        assert [e["id"] for e in await call(s, "find_entries", text="ops only")] == ["ops:secret"]
        entry = await call(s, "read_entry", id="app:greet")
        assert (entry["kind"], entry["data"]["method"]) == ("function.lua", "greet")
        source = await call(s, "read_source", id="app:greet")
        assert source.splitlines()[2] == "3  local function greet(who)"
        with pytest.raises(ToolFailed, match="NotFound: no entry app:nope"):
            await call(s, "read_entry", id="app:nope")
        with pytest.raises(ToolFailed, match="has no Lua source"):
            await call(s, "read_source", id="app:web")


async def test_lint_names_entry_and_line(app, agent):
    async with stdio_session(app.dir, agent["token"]) as s:
        ok = await call(s, "lint", changes=[{"action": "create", "entry": fn("app:greet2", GREET_V2, method="greet")}])
        assert ok == {"ok": True, "problems": []}
        bad = await call(s, "lint", changes=[
            {"action": "create", "entry": fn("app:broken", "local x = \nreturn {main = function() end")},
            {"action": "create", "entry": fn("app:dangling", "return {main = function() end}",
                                             imports={"lib": "app:missing"})},
            {"action": "create", "entry": {"id": "app:nokind_fields", "kind": "http.endpoint", "method": "GET"}},
            {"action": "delete", "id": "app:web"}])
        assert bad["ok"] is False
        msgs = {(p["entry"], p["message"].split(":")[0]) for p in bad["problems"]}
        [syntax] = [p for p in bad["problems"] if p["entry"] == "app:broken"]
        assert syntax["message"].startswith("Lua syntax error") and syntax["line"] == 2
        assert ("app:dangling", "references app") in msgs
        assert any(p["entry"] == "app:nokind_fields" for p in bad["problems"])
        assert ("app:web", "cannot delete") in msgs       # app:api is served by it
        typed = await call(s, "lint", changes=[{"action": "create", "entry": fn(
            "app:typed", 'local function twice(n: number): number return n * 2 end\n'
                         'return {main = function() return twice("two") end}')}])
        assert typed["problems"] == [{"entry": "app:typed", "line": 2,
                                      "message": "E0001: \"two\" not assignable to number (argument 1 of 'twice')"}]
    assert version_of(app) >= 1


async def test_apply_records_actor_and_serves_the_change(app, agent):
    before = version_of(app)
    async with stdio_session(app.dir, agent["token"]) as s:
        result = await call(s, "apply", changes=[
            {"action": "create", "entry": fn("app:hello_api", 'local http = require("http")\n'
                                             'return {handler = function() http.response():write_json({hi = "agent"}) end}',
                                             method="handler", modules=["http"])},
            {"action": "create", "entry": {"id": "app:hello_api.get", "kind": "http.endpoint",
                                           "meta": {"router": "api"}, "method": "GET", "path": "/agent-hello",
                                           "func": "hello_api"}}])
        assert result["applied"] is True and result["version"] == before + 1
        assert app.get("/api/agent-hello") == (200, '{"hi":"agent"}')
        rows = await call(s, "history")
        assert rows[-1]["origin"] == "mcp:agent-1" and rows[-1]["head"] is True
        d = await call(s, "diff", from_version=before)
        assert {c["id"]: c["change"] for c in d["changes"]} == {"app:hello_api": "created",
                                                                "app:hello_api.get": "created"}
        assert "+  path: /agent-hello" in [c for c in d["changes"] if c["id"] == "app:hello_api.get"][0]["diff"]
    head = [ln for ln in app.history() if ln.startswith("*")][0]
    assert "mcp:agent-1" in head
    audit = [json.loads(ln) for ln in (app.dir / ".wippy" / "mcp-audit.jsonl").read_text().splitlines()]
    [rec] = [a for a in audit if a["tool"] == "apply" and a.get("version") == before + 1]
    assert (rec["actor"], rec["token"], rec["ok"]) == ("agent-1", agent["id"], True)


async def test_a_change_that_fails_to_apply_changes_nothing(app, agent):
    before = version_of(app)
    async with stdio_session(app.dir, agent["token"]) as s:
        result = await call(s, "apply", changes=[
            {"action": "create", "entry": fn("app:fine", "return {main = function() return 1 end}")},
            {"action": "create", "entry": fn("app:bad", "return (((")}])
        assert result["applied"] is False
        assert [p["entry"] for p in result["problems"]] == ["app:bad"]
        # an entry from the app's files is changed in its file, not by an agent
        with pytest.raises(ToolFailed, match=r"app:greet comes from .*_index.yaml:\d+: change that file"):
            await call(s, "apply", changes=[
                {"action": "create", "entry": fn("app:fine", "return {main = function() return 1 end}")},
                {"action": "update", "entry": fn("app:greet", GREET_V2, method="greet")}])
        with pytest.raises(ToolFailed, match="no entry app:fine"):
            await call(s, "read_entry", id="app:fine")
    assert version_of(app) == before


GREETER_TEST = """local test = require("test")
local funcs = require("funcs")
return {run = test.run_cases(function()
  test.it("greets", function() test.eq(funcs.call("app:greeter", "Ann"), "Hello, Ann!") end)
end)}
"""


async def test_apply_with_tests_rolls_back_a_change_that_breaks_them(app, agent):
    async with stdio_session(app.dir, agent["token"]) as s:
        added = await call(s, "apply", run_tests=True, changes=[
            {"action": "create", "entry": fn("app:greeter", GREET_V2.replace("Hi", "Hello"), method="greet")},
            {"action": "create", "entry": fn("app:greeter_test", GREETER_TEST, method="run", modules=["funcs"],
                                             meta={"type": "test"}, imports={"test": "wippy.test:test"})}])
        assert added["applied"] is True and added["tests"]["passed"] == 1 and "rolled_back" not in added
        before = version_of(app)
        result = await call(s, "apply", run_tests=True, changes=[
            {"action": "update", "entry": fn("app:greeter", GREET_V2, method="greet")}])
        assert result["applied"] is True and result["rolled_back"] is True
        assert result["tests"]["failed"] == 1
        [case] = result["tests"]["tests"][0]["cases"]
        assert (case["expected"], case["actual"]) == ('"Hello, Ann!"', '"Hi, Ann!"')
        assert result["version"] == before + 2          # the change, then the version that undoes it
        entry = await call(s, "read_entry", id="app:greeter")
        assert "Hello, " in entry["data"]["source"]
        tests = await call(s, "run_tests")
        assert (tests["ok"], tests["passed"]) == (True, 2)
    assert any("tests failed: back to" in ln for ln in app.history())


async def test_rollback_logs_and_metrics(app, agent):
    async with stdio_session(app.dir, agent["token"]) as s:
        start = version_of(app)
        await call(s, "apply", changes=[{"action": "create", "entry": fn("app:temp", "return {main = function() end}")}])
        rb = await call(s, "rollback", version=start)
        assert rb["changed"] == ["app:temp"] and rb["version"] == start + 2
        with pytest.raises(ToolFailed, match="no entry app:temp"):
            await call(s, "read_entry", id="app:temp")
        await call(s, "run_tests", patterns=["greet_test"])        # calls app:greet, which logs
        logs = await call(s, "logs", id="app:greet")
        assert logs and logs[-1]["message"] == "greeting" and logs[-1]["fields"] == {"who": "Ann"}
        await call(s, "apply", changes=[
            {"action": "create", "entry": fn("app:counted", 'local http = require("http")\n'
                                             'return {h = function() http.response():write("ok") end}',
                                             method="h", modules=["http"])},
            {"action": "create", "entry": {"id": "app:counted.get", "kind": "http.endpoint", "meta": {"router": "api"},
                                           "method": "GET", "path": "/counted", "func": "counted"}}])
        for _ in range(3):
            assert app.get("/api/counted") == (200, "ok")
        samples = await call(s, "metrics", id="app:counted.get")
        [count] = [m for m in samples if m["name"] == "wippy_http_requests_total"]
        assert (count["value"], count["labels"]["status"]) == (3.0, "200")


async def test_a_grant_refuses_outside_its_scope_and_changes_nothing(app, agent):
    async with stdio_session(app.dir, agent["token"]) as s:   # something after version 1 to roll back
        await call(s, "apply", changes=[{"action": "create", "entry": fn("app:marker", "return {main = function() end}")}])
    reader = app.token("reader", actions="read")
    ops_only = app.token("ops-bot", ns=["ops"])
    lua_only = app.token("lua-bot", kinds=["function.lua"])
    before = version_of(app)
    change = [{"action": "update", "entry": fn("app:greet", GREET_V2, method="greet")}]
    async with stdio_session(app.dir, reader["token"]) as s:
        assert await call(s, "read_entry", id="app:greet")
        with pytest.raises(ToolFailed, match=r"PermissionDenied: token \w+ \(reader\) may not update"):
            await call(s, "apply", changes=change)
        with pytest.raises(ToolFailed, match="may not rollback"):
            await call(s, "rollback", version=1)
        with pytest.raises(ToolFailed, match="may not test"):
            await call(s, "run_tests")
    async with stdio_session(app.dir, ops_only["token"]) as s:
        assert [e["id"] for e in await call(s, "list_entries")] == ["ops:secret"]
        with pytest.raises(ToolFailed, match="may not read app:greet"):
            await call(s, "read_entry", id="app:greet")
        with pytest.raises(ToolFailed, match="may not update app:greet"):
            await call(s, "apply", changes=change)
        with pytest.raises(ToolFailed, match="may not rollback"):   # going back would touch app entries
            await call(s, "rollback", version=1)
    async with stdio_session(app.dir, lua_only["token"]) as s:
        with pytest.raises(ToolFailed, match=r"may not create app:x.get \(http.endpoint\)"):
            await call(s, "apply", changes=[
                {"action": "create", "entry": fn("app:x", "return {main = function() end}")},
                {"action": "create", "entry": {"id": "app:x.get", "kind": "http.endpoint", "meta": {"router": "api"},
                                               "method": "GET", "path": "/x", "func": "x"}}])
    assert version_of(app) == before
    async with stdio_session(app.dir, reader["token"]) as s:
        with pytest.raises(ToolFailed, match="no entry app:x"):
            await call(s, "read_entry", id="app:x")


async def test_revoked_token_stops_at_once_over_stdio(app):
    tok = app.token("short-lived")
    async with stdio_session(app.dir, tok["token"]) as s:
        assert await call(s, "history")
        app.revoke(tok["id"])
        with pytest.raises(ToolFailed, match=f"token {tok['id']} \\(short-lived\\) was revoked"):
            await call(s, "history")
    assert "revoked" in wippy("mcp-token", "list", str(app.dir)).stdout


async def test_http_transport_tools_auth_and_revocation(app):
    tok = app.token("http-agent")
    server = HttpServer(app.dir)
    try:
        async with http_session(server.url, tok["token"]) as s:
            before = version_of(app)
            result = await call(s, "apply", run_tests=True, changes=[
                {"action": "create", "entry": fn("app:http_made", "return {main = function() return 7 end}")}])
            assert result["applied"] is True and "rolled_back" not in result
            assert (await call(s, "read_entry", id="app:http_made"))["kind"] == "function.lua"
            assert (await call(s, "history"))[-1]["origin"] == "mcp:http-agent"
            assert version_of(app) == before + 1
            # the other tools answer over HTTP as over stdio
            assert "app:http_made" in [e["id"] for e in await call(s, "list_entries", namespace="app")]
            assert [e["id"] for e in await call(s, "find_entries", text="return 7")] == ["app:http_made"]
            assert (await call(s, "read_source", id="app:http_made")).startswith("1  return {main")
            assert (await call(s, "lint", changes=[{"action": "delete", "id": "app:http_made"}]))["ok"] is True
            assert [c["id"] for c in (await call(s, "diff", from_version=before))["changes"]] == ["app:http_made"]
            assert (await call(s, "run_tests", patterns=["greet_test"]))["passed"] == 1
            assert (await call(s, "logs", id="app:greet"))[-1]["message"] == "greeting"
            assert isinstance(await call(s, "metrics", id="app:greet"), list)
            assert (await call(s, "rollback", version=before))["changed"] == ["app:http_made"]
            with pytest.raises(ToolFailed, match="no entry app:http_made"):
                await call(s, "read_entry", id="app:http_made")
            app.revoke(tok["id"])
            with pytest.raises(MCPError):   # the server answers 401 before MCP sees the call
                await call(s, "history")
        import httpx2
        async with httpx2.AsyncClient() as c:
            r = await c.post(server.url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
            assert r.status_code == 401
            r = await c.post(server.url, json={}, headers={"Authorization": "Bearer wmcp_nope"})
            assert r.status_code == 401 and r.json()["error"].startswith("unknown or expired MCP token")
    finally:
        server.stop()


def test_stdio_server_refuses_to_start_without_a_valid_token(app):
    r = wippy("mcp", str(app.dir), env={"WIPPY_MCP_TOKEN": "wmcp_bad"}, timeout=30)
    assert r.returncode == 1
    assert "unknown or expired MCP token" in r.stderr


def test_token_cli_refuses_unknown_actions(app):
    r = wippy("mcp-token", "create", str(app.dir), "--actor", "x", "--actions", "read,fly")
    assert r.returncode == 1
    assert "unknown action(s) fly" in r.stderr


async def test_tokens_in_a_configured_token_store_on_both_transports(app):
    """Tokens issued into the app's security.token_store entry: signed, kept by hash, scopes kept,
    accepted over stdio and HTTP, refused at once on both after a revocation."""
    store = ["--token-store", "sec:mcp_tokens"]
    tok = app.token("store-agent", actions="read,lint", store="sec:mcp_tokens")
    assert tok["actions"] == ["read", "lint"] and tok["expires_at"] - tok["created_at"] == pytest.approx(7200, abs=5)
    assert tok["token"] not in (app.dir / ".wippy" / "sec-tokens.db").read_bytes().decode("latin-1")
    listed = wippy("mcp-token", "list", str(app.dir), *store).stdout
    assert f"{tok['id']}  active   store-agent" in listed and "actions=read,lint" in listed
    # another store does not know it (the default one here)
    r = wippy("mcp", str(app.dir), env={"WIPPY_MCP_TOKEN": tok["token"]}, timeout=30)
    assert r.returncode == 1 and "unknown or expired MCP token (token store wippy.mcp:tokens" in r.stderr
    # a forged signature is refused before any lookup
    body, _, tag = tok["token"].rpartition(".")
    r = wippy("mcp", str(app.dir), *store, env={"WIPPY_MCP_TOKEN": f"{body}.{tag[::-1]}"}, timeout=30)
    assert r.returncode == 1 and "unknown or expired MCP token (token store sec:mcp_tokens)" in r.stderr

    server = HttpServer(app.dir, *store)
    try:
        async with stdio_session(app.dir, tok["token"], env={"WIPPY_MCP_TOKEN_STORE": "sec:mcp_tokens"}) as s, \
                http_session(server.url, tok["token"]) as h:
            assert await call(s, "history") and await call(h, "history")
            for session in (s, h):   # the scope travels with the token
                with pytest.raises(ToolFailed, match=rf"token {tok['id']} \(store-agent\) may not create"):
                    await call(session, "apply", changes=[{"action": "create", "entry": fn("app:nope", "return 1")}])
            app.revoke(tok["id"], store="sec:mcp_tokens")
            with pytest.raises(ToolFailed, match=rf"token {tok['id']} \(store-agent\) was revoked"):
                await call(s, "history")
            with pytest.raises(MCPError):
                await call(h, "history")
        import httpx2
        async with httpx2.AsyncClient() as c:
            r = await c.post(server.url, json={}, headers={"Authorization": f"Bearer {tok['token']}"})
            assert (r.status_code, r.json()) == (401, {"error": f"token {tok['id']} (store-agent) was revoked"})
    finally:
        server.stop()
    assert f"{tok['id']}  revoked  store-agent" in wippy("mcp-token", "list", str(app.dir), *store).stdout


def test_token_store_over_a_memory_store_is_refused(app):
    r = wippy("mcp-token", "create", str(app.dir), "--actor", "x", "--token-store", "sec:mem_tokens")
    assert r.returncode == 1
    assert "token store sec:mem_tokens keeps its tokens in sec:mem, a store.memory" in r.stderr
    r = wippy("mcp-token", "list", str(app.dir), "--token-store", "app:greet")
    assert r.returncode == 1 and "no security.token_store entry app:greet in the app (a function.lua)" in r.stderr


async def test_a_token_scoped_by_policies(app):
    """A token whose scope names a policy group: each action on an entry must also be allowed by
    those security.policy entries (`mcp.<action>` on the entry id), deny by default."""
    tok = app.token("policy-agent", policy_groups=["sec:mcp_agents"])
    assert "policies=group:sec:mcp_agents" in wippy("mcp-token", "list", str(app.dir)).stdout
    async with stdio_session(app.dir, tok["token"]) as s:
        ids = {e["id"] for e in await call(s, "list_entries")}
        assert "app:greet" in ids and not ids & {"ops:secret", "sec:mcp_tokens"}
        with pytest.raises(ToolFailed, match=r"may not read ops:secret \(function.lua\): its policies "
                                             r"\(sec:mcp_agents\) do not allow mcp.read on it"):
            await call(s, "read_entry", id="ops:secret")
        made = await call(s, "apply", changes=[{"action": "create", "entry": fn("app:keep_me", "return 1")}])
        assert made["applied"] is True
        before = version_of(app)
        with pytest.raises(ToolFailed, match="may not delete app:keep_me .* do not allow mcp.delete on it"):
            await call(s, "apply", changes=[{"action": "delete", "id": "app:keep_me"}])
        assert version_of(app) == before
        assert (await call(s, "read_entry", id="app:keep_me"))["id"] == "app:keep_me"


def test_a_token_expires(app):
    r = wippy("mcp-token", "create", str(app.dir), "--actor", "brief", "--expires", "1s")
    assert r.returncode == 0, r.stderr
    tok = json.loads(r.stdout)
    assert tok["expires_at"] - tok["created_at"] == pytest.approx(1, abs=0.5)
    import time
    time.sleep(1.5)
    r = wippy("mcp", str(app.dir), env={"WIPPY_MCP_TOKEN": tok["token"]}, timeout=30)
    assert r.returncode == 1 and "unknown or expired MCP token" in r.stderr
    assert tok["id"] not in wippy("mcp-token", "list", str(app.dir)).stdout   # its grant went with it
    r = wippy("mcp-token", "create", str(app.dir), "--actor", "never", "--expires", "0s")
    assert r.returncode == 1 and "expiration must be positive" in r.stderr
