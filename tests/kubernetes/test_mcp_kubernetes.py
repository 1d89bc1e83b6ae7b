"""`wippy mcp --kubernetes` on a real API server, driven through the SDK's stdio client: an agent's
entries become custom resources written by field manager `wippy`, labelled agent-owned and annotated
with the actor; entries applied from git (no agent-owned label) are refused and stay as they were;
a change whose tests fail is put back; the app's own runtime (`wippy test --kubernetes`) sees them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.harness.agents import ToolFailed, call, stdio_session, wippy
from tests.harness.kube_cluster import KubeCluster
from tests.harness.processes import wait_for
from tests.kubernetes.test_operator import operator  # noqa: F401 - the operator records revisions
from wippy.kube.naming import GROUP, crd_kind, object_name, plural

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kubernetes
FUNCS = plural(crd_kind("function.lua"))

SHOUT = 'return {main = function(who) return "HELLO, " .. string.upper(who) .. "!" end}'
SHOUT_TEST = ('local test = require("test")\nlocal funcs = require("funcs")\n'
              'return {run = test.run_cases(function()\n'
              '  test.it("shouts", function() test.eq(funcs.call("hello:shout", "bo"), "HELLO, BO!") end)\n'
              'end)}\n')


@pytest.fixture(scope="module")
def ns(kube: KubeCluster) -> str:
    for f in sorted((REPO / "crds").glob("*.yaml")):
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
    kube.kubectl("wait", "--for=condition=Established", f"crd/{FUNCS}.{GROUP}", "--timeout=60s")
    name = f"mk-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    manifests = [d for d in yaml.safe_load_all((REPO / "examples/kubernetes/hello-world.yaml").read_text()) if d]
    kube.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump_all(manifests))
    return name


def get(kube: KubeCluster, ns: str, entry_id: str) -> dict:
    return json.loads(kube.kubectl("get", FUNCS, object_name(entry_id), "-n", ns, "-o", "json",
                                   "--show-managed-fields").stdout)


async def test_agent_changes_are_custom_resources_under_the_gitops_rule(kube: KubeCluster, ns: str, tmp_path,
                                                                       operator) -> None:
    r = wippy("mcp-token", "create", str(tmp_path), "--actor", "k8s-agent", "--ns", "hello", "--ns", "hello.test")
    token = json.loads(r.stdout)["token"]
    env = {"KUBECONFIG": str(kube.kubeconfig)}
    git_greet = get(kube, ns, "hello:greet")
    async with stdio_session(tmp_path, token, "--kubernetes", "--app", "hello-world", "-n", ns, env=env) as s:
        ids = [e["id"] for e in await call(s, "list_entries")]
        assert {"hello:greet", "hello:hello", "hello.test:greet"} <= set(ids)
        assert (await call(s, "read_source", id="hello:greet")).splitlines()[0].startswith("1  local function greet(who")

        # an entry from git is not the agent's to change
        with pytest.raises(ToolFailed, match="hello:greet is not agent-owned"):
            await call(s, "apply", changes=[{"action": "update", "entry": {
                "id": "hello:greet", "kind": "function.lua", "source": SHOUT, "method": "main"}}])
        lint = await call(s, "lint", changes=[{"action": "delete", "id": "hello:greet"}])
        assert lint["ok"] is False and "not agent-owned" in lint["problems"][-1]["message"]

        added = await call(s, "apply", run_tests=True, changes=[
            {"action": "create", "entry": {"id": "hello:shout", "kind": "function.lua", "source": SHOUT, "method": "main"}},
            {"action": "create", "entry": {"id": "hello.test:shout", "kind": "function.lua", "source": SHOUT_TEST,
                                           "method": "run", "meta": {"type": "test", "suite": "shout"},
                                           "modules": ["funcs"], "imports": {"test": "wippy.test:test"}}}])
        assert added["applied"] is True and "rolled_back" not in added, added
        assert (added["tests"]["passed"], added["tests"]["failed"]) == (1, 0)

        broken = await call(s, "apply", run_tests=True, changes=[{"action": "update", "entry": {
            "id": "hello:shout", "kind": "function.lua", "method": "main",
            "source": 'return {main = function(who) return "hi" end}'}}])
        assert broken["applied"] is True and broken["rolled_back"] is True
        assert broken["tests"]["tests"][0]["cases"][0]["actual"] == '"hi"'

    assert get(kube, ns, "hello:greet")["spec"] == git_greet["spec"]
    shout = get(kube, ns, "hello:shout")
    meta = shout["metadata"]
    assert meta["labels"] == {"wippy.ai/app": "hello-world", "wippy.ai/agent-owned": "true"}
    assert meta["annotations"]["wippy.ai/changed-by"] == "mcp:k8s-agent (tests failed)"
    assert {m["manager"] for m in meta["managedFields"] if "f:spec" in m.get("fieldsV1", {})} == {"wippy"}
    assert shout["spec"]["source"] == SHOUT                       # put back after the failed tests
    assert meta["generation"] == 3                                # created, broken, put back

    # the operator keeps the agent's entry in its revision history, like any other
    def history() -> str:
        out = wippy("history", "hello:shout", "-n", ns, env=env).stdout
        return out if len(out.splitlines()) >= 2 else ""
    lines = wait_for(history, timeout=120, interval=1, what="revisions of hello:shout").splitlines()
    assert lines[0].split()[:2] == ["REVISION", "CHANGED"] and lines[-1].split()[-1] == "source"
    assert "BY" in lines[0].split() and all("mcp:k8s-agent" in line for line in lines[1:]), lines

    # the app's runtime, fed from the cluster as a pod is, runs the agent's test with the others
    # blocking is fine: the operator runs in its own process, and the MCP session is closed
    t = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "test", "--kubernetes", "--app",  # noqa: ASYNC221
                        "hello-world", "-n", ns, "--json"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **env})
    assert t.returncode == 0, t.stdout + t.stderr
    assert json.loads(t.stdout)["passed"] == 3
    audit = [json.loads(ln) for ln in (tmp_path / ".wippy" / "mcp-audit.jsonl").read_text().splitlines()]
    applies = [a for a in audit if a["tool"] == "apply" and a["ok"]]
    assert [(a["actor"], a["generations"], a["rolled_back"]) for a in applies] == [
        ("k8s-agent", {"hello:shout": 1, "hello.test:shout": 1}, False), ("k8s-agent", {"hello:shout": 2}, True)]


TICKER = ('local time = require("time")\nlocal logger = require("logger")\nlocal funcs = require("funcs")\n'
          'local function main()\n  while true do\n'
          '    logger.info("tick", {answer = funcs.call("hello:shout", "pod")})\n'
          '    time.sleep("100ms")\n  end\nend\nreturn {main = main}\n')
HEY = 'return {main = function(who) return "HEY, " .. string.upper(who) .. "!" end}'


def fresh_app(kube: KubeCluster) -> str:
    name = f"mk-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    manifests = [d for d in yaml.safe_load_all((REPO / "examples/kubernetes/hello-world.yaml").read_text()) if d]
    kube.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump_all(manifests))
    return name


def runtime_pod(kube: KubeCluster, ns: str, name: str, port: int) -> None:
    """The Pod object of a runtime this test runs as a local process (nothing runs pods here):
    labelled as the operator's Deployment labels them, its `metrics` port, Running at 127.0.0.1."""
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": name, "labels": {"wippy.ai/app": "hello-world",
                                                 "app.kubernetes.io/name": "wippy-runtime"}},
           "spec": {"containers": [{"name": "runtime", "image": "example/wippy:1",
                                    "ports": [{"name": "metrics", "containerPort": port}]}]}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(pod))
    kube.kubectl("patch", "pod", name, "-n", ns, "--subresource=status", "--type=merge", "-p",
                 json.dumps({"status": {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}]}}))


async def until(what: str, probe, timeout: float = 60):
    """Await ``probe()`` until it returns something truthy."""
    import asyncio
    import time
    deadline = time.monotonic() + timeout
    while True:
        got = await probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what} (last: {got!r})"
        await asyncio.sleep(0.3)


async def test_agent_diff_rollback_logs_metrics_and_events(kube: KubeCluster, tmp_path, operator) -> None:
    """Kubernetes' own record drives diff and rollback (the app's versions, each entry's revisions);
    logs and metrics come from the app's runtime pod; each change is a Kubernetes Event of its entry."""
    from tests.harness.kube_cluster import free_port
    from tests.kubernetes.test_runtime_live import Pod
    ns = fresh_app(kube)
    env = {"KUBECONFIG": str(kube.kubeconfig)}
    token = json.loads(wippy("mcp-token", "create", str(tmp_path), "--actor", "k8s-agent").stdout)["token"]
    port = free_port()
    pod = Pod(kube, ns, "hello-world-runtime-1", args=["run", "--kubernetes", "--app", "hello-world",
                                                        "--metrics", f"127.0.0.1:{port}"]).start()
    try:
        runtime_pod(kube, ns, "hello-world-runtime-1", port)
        async with stdio_session(tmp_path, token, "--kubernetes", "--app", "hello-world", "-n", ns, env=env) as s:
            async def head(part: str):
                rows = await call(s, "history")
                return next((r["version"] for r in rows if r["head"] and part in r["summary"]), None)

            async def ticks(answer: str):
                got = await call(s, "logs", id="hello:ticker", limit=5)
                return got if [r["fields"]["answer"] for r in got["records"][-1:]] == [answer] else None

            v0 = await until("the app's first version", lambda: head("entries"))
            made = await call(s, "apply", changes=[{"action": "create", "entry": e} for e in (
                {"id": "hello:shout", "kind": "function.lua", "source": SHOUT, "method": "main"},
                {"id": "hello:procs", "kind": "process.host", "lifecycle": {"auto_start": True}},
                {"id": "hello:ticker", "kind": "process.lua", "source": TICKER, "method": "main",
                 "modules": ["time", "logger", "funcs"]},
                {"id": "hello:ticker.service", "kind": "process.service", "process": "hello:ticker",
                 "host": "hello:procs", "lifecycle": {"auto_start": True}})])
            assert made["applied"] is True, made
            v1 = await until("the version with the agent's entries", lambda: head("+hello:ticker"))
            got = await until("the ticker's logs from the pod", lambda: ticks("HELLO, POD!"))
            assert got["pods"] == ["hello-world-runtime-1"] and got["records"][-1]["pod"] == "hello-world-runtime-1"

            assert (await call(s, "apply", changes=[{"action": "update", "entry": {
                "id": "hello:shout", "kind": "function.lua", "source": HEY, "method": "main"}}]))["applied"] is True
            v2 = await until("the version with the new shout", lambda: head("~hello:shout"))
            # each version names who wrote what changed in it: the agent here, git further down
            assert [r["summary"] for r in await call(s, "history") if r["version"] == v2] == [
                "~hello:shout(mcp:k8s-agent)"]
            await until("the pod serving the new shout", lambda: ticks("HEY, POD!"))
            # the pod reports the agent's change in the entry's status, as for any other change
            async def reported():
                a = ((get(kube, ns, "hello:shout").get("status") or {}).get("applied") or {}).get(
                    "hello-world-runtime-1") or {}
                return a.get("generation") == 2 and a.get("error") is None
            await until("the pod's report of generation 2 in the entry's status", reported)
            metrics = await call(s, "metrics", id="hello:shout")
            served = [m for m in metrics["samples"] if m["name"] == "wippy_entry_served_revision"]
            assert [(m["labels"], m["pod"]) for m in served] == [({"entry": "hello:shout"}, "hello-world-runtime-1")]

            diff = await call(s, "diff", from_version=v1, to_version=v2)
            assert [(c["id"], c["change"]) for c in diff["changes"]] == [("hello:shout", "updated")]
            assert "-source: return {main = function(who) return \"HELLO" in diff["changes"][0]["diff"]
            assert "+source: return {main = function(who) return \"HEY" in diff["changes"][0]["diff"]
            assert {c["id"] for c in (await call(s, "diff", from_version=v0))["changes"]} == {
                "hello:shout", "hello:procs", "hello:ticker", "hello:ticker.service"}

            back = await call(s, "rollback", version=v1)
            assert (back["changed"], back["kept"]) == (["hello:shout"], [])
            assert get(kube, ns, "hello:shout")["spec"]["source"] == SHOUT
            await until("the pod serving the old shout again", lambda: ticks("HELLO, POD!"))

            # back to before the agent: what it created goes, and the pod stops running it
            gone = await call(s, "rollback", version=v0)
            assert sorted(gone["changed"]) == ["hello:procs", "hello:shout", "hello:ticker", "hello:ticker.service"]
            assert kube.kubectl("get", FUNCS, "hello.shout", "-n", ns, check=False).returncode != 0
            with pytest.raises(ToolFailed, match="no entry hello:ticker"):
                await call(s, "logs", id="hello:ticker")

            # git changes its own entry: no rollback may undo that behind its back
            vg = await until("the version without the agent's entries", lambda: head("-hello:ticker"))
            greet = get(kube, ns, "hello:greet")
            greet["spec"]["source"] = greet["spec"]["source"].replace("Hello, ", "Hi, ")
            kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(
                {k: greet[k] for k in ("apiVersion", "kind", "spec")} | {"metadata": {
                    "name": "hello.greet", "labels": greet["metadata"]["labels"]}}))
            await until("git's version", lambda: head("~hello:greet"))
            app_history = wippy("history", "--app", "hello-world", "-n", ns, env=env).stdout
            assert "~hello:greet" in app_history and "~hello:greet(" not in app_history, app_history
            with pytest.raises(ToolFailed, match="hello:greet is not agent-owned"):
                await call(s, "rollback", version=vg)
            assert "Hi, " in get(kube, ns, "hello:greet")["spec"]["source"]
            with pytest.raises(ToolFailed, match="no version 999"):
                await call(s, "diff", from_version=999)
    finally:
        pod.stop()

    events = json.loads(kube.kubectl("get", "events", "-n", ns, "-o", "json").stdout)["items"]
    shout = [(e["reason"], e["type"], e["message"]) for e in events
             if e["involvedObject"]["name"] == "hello.shout" and e["involvedObject"]["kind"] == "FunctionLua"]
    reasons = sorted(r for r, _, _ in shout)
    assert reasons == ["McpApply", "McpApply", "McpRollback", "McpRollback"], shout
    assert all(m.startswith("mcp:k8s-agent (token ") for _, _, m in shout)
    assert any(m.endswith("rolled back hello:shout to app version " + str(v1)) for r, _, m in shout if r == "McpRollback")
    table = kube.kubectl("get", "events", "-n", ns, "--field-selector", "reason=McpApply").stdout
    assert "functionlua/hello.shout" in table and "mcp:k8s-agent" in table


async def test_tokens_from_a_token_store_entry_of_the_cluster(kube: KubeCluster, tmp_path, operator) -> None:
    """`--token-store` names a security.token_store custom resource of the app: `wippy mcp-token`
    and `wippy mcp --kubernetes` both open it from the cluster's entries; a revoked token is refused."""
    ns = fresh_app(kube)
    (tmp_path / "db").mkdir()
    crs = [{"id": "hello:token_db", "kind": "db.sql.sqlite", "file": str(tmp_path / "db" / "tokens.db")},
           {"id": "hello:token_kv", "kind": "store.sql", "database": "hello:token_db"},
           {"id": "hello:mcp_tokens", "kind": "security.token_store", "store": "hello:token_kv",
            "token_key": "${env:K8S_TOKEN_KEY}"}]
    from wippy.kube.manifests import to_object
    from wippy.registry import Entry
    objs = [to_object(Entry.from_dict({"id": c["id"], "kind": c["kind"],
                                       "data": {k: v for k, v in c.items() if k not in ("id", "kind")}}),
                      "hello-world", ns) for c in crs]
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))
    env = {"KUBECONFIG": str(kube.kubeconfig), "K8S_TOKEN_KEY": "cluster-signing-key"}
    target = ["--kubernetes", "--app", "hello-world", "-n", ns, "--token-store", "hello:mcp_tokens"]
    r = wippy("mcp-token", "create", str(tmp_path), "--actor", "cluster-agent", *target, env=env)
    assert r.returncode == 0, r.stderr
    tok = json.loads(r.stdout)
    assert tok["token"].count(".") == 1    # signed with the entry's token_key
    async with stdio_session(tmp_path, tok["token"], *target, env=env) as s:
        assert "hello:greet" in {e["id"] for e in await call(s, "list_entries")}
        r = wippy("mcp-token", "revoke", tok["id"], str(tmp_path), *target, env=env)
        assert r.returncode == 0, r.stderr
        with pytest.raises(ToolFailed, match=rf"token {tok['id']} \(cluster-agent\) was revoked"):
            await call(s, "list_entries")
    # another key cannot have signed it
    r = wippy("mcp", str(tmp_path), *target, env={**env, "K8S_TOKEN_KEY": "other", "WIPPY_MCP_TOKEN": tok["token"]})
    assert r.returncode == 1 and "unknown or expired MCP token (token store hello:mcp_tokens)" in r.stderr

    # what a token may do on Kubernetes: its actions, and the app's policies (custom resources too)
    policy = Entry.from_dict({"id": "hello:agents_not_greet", "kind": "security.policy", "data": {
        "groups": ["agents"], "policy": {"actions": "mcp.*", "resources": "hello:sh*", "effect": "allow"}}})
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(to_object(policy, "hello-world", ns)))
    reader = json.loads(wippy("mcp-token", "create", str(tmp_path), "--actor", "reader", "--actions", "read",
                              *target, env=env).stdout)
    scoped = json.loads(wippy("mcp-token", "create", str(tmp_path), "--actor", "scoped", "--policy-group",
                              "hello:agents", *target, env=env).stdout)
    shout = {"action": "create", "entry": {"id": "hello:shout", "kind": "function.lua", "source": SHOUT,
                                           "method": "main"}}
    async with stdio_session(tmp_path, reader["token"], *target, env=env) as s:
        with pytest.raises(ToolFailed, match=r"token \w+ \(reader\) may not create"):
            await call(s, "apply", changes=[shout])
        with pytest.raises(ToolFailed, match=r"token \w+ \(reader\) may not rollback"):
            await call(s, "rollback", version=1)
    assert kube.kubectl("get", FUNCS, "hello.shout", "-n", ns, check=False).returncode != 0
    async with stdio_session(tmp_path, scoped["token"], *target, env=env) as s:
        assert [e["id"] for e in await call(s, "list_entries")] == []      # nothing it may read yet
        with pytest.raises(ToolFailed, match="may not read hello:greet .* do not allow mcp.read on it"):
            await call(s, "read_entry", id="hello:greet")
        assert (await call(s, "apply", changes=[shout]))["applied"] is True
        assert [e["id"] for e in await call(s, "list_entries")] == ["hello:shout"]
