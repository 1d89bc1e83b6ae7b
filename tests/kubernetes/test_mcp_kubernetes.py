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
        return out if "latest" in out else ""
    lines = wait_for(history, timeout=60, what="revisions of hello:shout").splitlines()
    assert lines[0].split()[:2] == ["REVISION", "CHANGED"] and len(lines) >= 2

    # the app's runtime, fed from the cluster as a pod is, runs the agent's test with the others
    # blocking is fine: the operator runs in its own process, and the MCP session is closed
    t = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "test", "--kubernetes", "--app",  # noqa: ASYNC221
                        "hello-world", "-n", ns, "--json"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, **env})
    assert t.returncode == 0, t.stdout + t.stderr
    assert json.loads(t.stdout)["passed"] == 3
    audit = [json.loads(ln) for ln in (tmp_path / ".wippy" / "mcp-audit.jsonl").read_text().splitlines()]
    assert [a["tool"] for a in audit if a["tool"] == "apply" and a["ok"]] == ["apply", "apply"]
