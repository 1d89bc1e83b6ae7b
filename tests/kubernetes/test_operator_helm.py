"""The Helm chart: lint, server-side dry run of what it renders, and a real install."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm"


def helm_run(helm, kube, *args) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(helm), "--kubeconfig", str(kube.kubeconfig), *args], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_helm_lint(helm, kube):
    assert "0 chart(s) failed" in helm_run(helm, kube, "lint", str(CHART), "--strict").stdout


def test_values_schema_refuses_bad_values(helm, kube):
    proc = subprocess.run([str(helm), "template", "x", str(CHART), "--set", "logLevel=LOUD"], capture_output=True, text=True)
    assert proc.returncode != 0 and "logLevel" in proc.stderr


def test_template_applies_with_server_dry_run(helm, kube):
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CHART / "crds"))
    kube.kubectl("create", "namespace", "wippy-dry", check=False)
    rendered = helm_run(helm, kube, "template", "dry", str(CHART), "-n", "wippy-dry",
                        "--set", "temporal.address=temporal:7233").stdout
    out = kube.kubectl("apply", "--dry-run=server", "-n", "wippy-dry", "-f", "-", input=rendered).stdout
    assert "deployment.apps/dry-operator created (server dry run)" in out
    assert "clusterrole.rbac.authorization.k8s.io/dry-operator created (server dry run)" in out


def test_helm_install(helm, kube):
    helm_run(helm, kube, "install", "wippy", str(CHART), "-n", "wippy-system", "--create-namespace",
             "--set", "image.tag=test")
    deploy = json.loads(kube.kubectl("get", "deployment", "wippy-operator", "-n", "wippy-system", "-o", "json").stdout)
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/wippy/wippy-operator:test"
    assert "--metrics-port=9090" in container["args"]
    crds = kube.kubectl("get", "crd", "-o", "name").stdout
    assert "customresourcedefinition.apiextensions.k8s.io/functionluas.wippy.ai" in crds
    assert "wippyapps.wippy.ai" in crds
    # the operator's account can do what it needs to grant the runtime
    sa = "system:serviceaccount:wippy-system:wippy-operator"
    assert kube.kubectl("auth", "can-i", "patch", "functionluas.wippy.ai", "--subresource=status", "-A",
                        "--as", sa, check=False).stdout.strip() == "yes"
    assert kube.kubectl("auth", "can-i", "get", "secrets", "-A", "--as", sa, check=False).stdout.strip() == "no"
