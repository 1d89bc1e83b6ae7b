"""CRDs and `wippy manifests` on a real API server: apply, explain, get with columns, kustomize."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_crds_apply_and_explain(kube):
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=wippy")
    out = kube.kubectl("explain", "functionluas.spec.pool.max_size").stdout
    assert "Most VMs a lazy or adaptive pool grows to" in out and "Default: 16" in out
    out = kube.kubectl("explain", "wippyapps.spec.replicas").stdout
    assert "Runtime pods" in out
    out = kube.kubectl("explain", "wippyapp.spec.selector").stdout
    assert "Which entries of the namespace belong to the app" in out and "matchExpressions" in out
    out = kube.kubectl("explain", "wippyapp.spec.selector.matchExpressions.operator").stdout
    assert "DoesNotExist" in out


def test_a_selector_the_api_server_could_not_query_is_refused(kube):
    kube.kubectl("create", "namespace", "selector-demo", check=False)
    app = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"},
           "spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["web"]}]}}}
    proc = kube.kubectl("apply", "-n", "selector-demo", "-f", "-", input=app, check=False)
    assert proc.returncode != 0 and "spec.selector.matchExpressions[0].operator" in proc.stderr, proc.stderr


def test_manifests_apply_and_get_wippy(kube):
    kube.kubectl("create", "namespace", "manifests-demo", check=False)
    rendered = subprocess.run([sys.executable, "-m", "wippy.cli.main", "manifests", str(ROOT / "examples/hello-world"),
                               "-n", "manifests-demo"], capture_output=True, text=True, check=True).stdout
    out = kube.kubectl("apply", "-f", "-", input=rendered).stdout
    assert "functionlua.wippy.ai/hello.greet created" in out and "wippyapp.wippy.ai/hello-world created" in out
    table = kube.kubectl("get", "wippy", "-n", "manifests-demo").stdout
    for text in ("ID", "METHOD", "READY", "REVISION", "AGE", "hello:greet", "hello:terminal", "hello-world"):
        assert text in table
    short = kube.kubectl("get", "wfl", "-n", "manifests-demo", "-o", "name").stdout
    assert "functionlua.wippy.ai/hello.greet" in short.split()


def test_kustomize_example_applies(kube):
    out = kube.kubectl("apply", "-k", str(ROOT / "examples/kubernetes")).stdout
    assert "functionlua.wippy.ai/hello.greet created" in out
    assert "hello:greet" in kube.kubectl("get", "wippy", "-n", "hello-world").stdout
