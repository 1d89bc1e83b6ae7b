"""`wippy test --kubernetes` on a real API server: the hello-world example applied as custom
resources (its test entries included) is tested from the cluster's entries; a test added with
kubectl that fails makes the run fail, naming the case and its values; nothing is reported into
the entries' status (a test run is no pod of the app)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.harness.kube_cluster import KubeCluster
from wippy.kube.naming import API_VERSION, GROUP, crd_kind, object_name, plural

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.kubernetes


@pytest.fixture(scope="module")
def ns(kube: KubeCluster) -> str:
    for f in sorted((REPO / "crds").glob("*.yaml")):
        kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(f))
    kube.kubectl("wait", "--for=condition=Established", f"crd/{plural(crd_kind('function.lua'))}.{GROUP}",
                 "--timeout=60s")
    name = f"wt-{uuid.uuid4().hex[:6]}"
    kube.kubectl("create", "namespace", name)
    manifests = [d for d in yaml.safe_load_all((REPO / "examples/kubernetes/hello-world.yaml").read_text()) if d]
    kube.kubectl("apply", "-n", name, "-f", "-", input=yaml.safe_dump_all(manifests))
    return name


def wippy_test(kube: KubeCluster, ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "test", "--kubernetes", "--app", "hello-world",
                           "-n", ns, "--json", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KUBECONFIG": str(kube.kubeconfig)})


def test_cluster_entries_are_tested(kube: KubeCluster, ns: str) -> None:
    r = wippy_test(kube, ns)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(r.stdout)
    assert (report["passed"], report["failed"]) == (2, 0)
    assert [t["entry"] for t in report["tests"]] == ["hello.test:greet"]
    obj = json.loads(kube.kubectl("get", plural(crd_kind("function.lua")), object_name("hello.test:greet"),
                                  "-n", ns, "-o", "json").stdout)
    assert not (obj.get("status") or {}).get("applied")


def test_a_failing_test_added_with_kubectl_fails_the_run(kube: KubeCluster, ns: str) -> None:
    source = ('local test = require("test")\nlocal funcs = require("funcs")\n'
              'return {run = test.run_cases(function()\n'
              '  test.it("shouts", function() test.eq(funcs.call("hello:greet", "Bo"), "HELLO, BO!") end)\n'
              'end)}\n')
    cr = {"apiVersion": API_VERSION, "kind": crd_kind("function.lua"),
          "metadata": {"name": object_name("hello.test:shout"), "labels": {"wippy.ai/app": "hello-world"}},
          "spec": {"id": "hello.test:shout", "meta": {"type": "test", "suite": "greet"}, "source": source,
                   "method": "run", "modules": ["funcs"], "imports": {"test": "wippy.test:test"}}}
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(cr))
    r = wippy_test(kube, ns, "shout")
    assert r.returncode == 1, r.stdout + r.stderr
    [test] = json.loads(r.stdout)["tests"]
    [case] = test["cases"]
    assert (case["status"], case["line"], case["expected"], case["actual"]) == (
        "failed", 4, '"HELLO, BO!"', '"Hello, Bo!"')
