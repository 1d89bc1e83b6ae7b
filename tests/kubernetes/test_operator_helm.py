"""The Helm chart: lint, values schema, server-side dry run of what it renders, and a real install,
upgrade (CRDs included) and namespaced RBAC, with the operator running under the chart's account."""
from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import yaml

from tests.harness.kube_cluster import free_port, service_account_user
from tests.harness.operator_process import Operator
from tests.harness.processes import wait_for

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm"
SA = "system:serviceaccount:wippy-system:wippy-operator"


def helm_run(helm, kube, *args, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(helm), "--kubeconfig", str(kube.kubeconfig), *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def render(helm, *args) -> list[dict]:
    out = subprocess.run([str(helm), "template", "x", str(CHART), "-n", "wippy-system", *args],
                         capture_output=True, text=True, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def can_i(kube, *args) -> bool:
    return kube.kubectl("auth", "can-i", *args, "--as", SA, check=False).stdout.strip() == "yes"


def test_helm_lint(helm, kube):
    assert "0 chart(s) failed" in helm_run(helm, kube, "lint", str(CHART), "--strict").stdout


def test_chart_readme_lists_every_value():
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "chart-readme.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_values_schema_refuses_bad_values_and_takes_the_standard_ones(helm, kube):
    proc = subprocess.run([str(helm), "template", "x", str(CHART), "--set", "logLevel=LOUD"], capture_output=True, text=True)
    assert proc.returncode != 0 and "logLevel" in proc.stderr
    proc = subprocess.run([str(helm), "template", "x", str(CHART), "--set", "nodeSelectr.disk=ssd"],
                          capture_output=True, text=True)
    assert proc.returncode != 0 and "nodeSelectr" in proc.stderr
    values = {
        "fullnameOverride": "ops", "imagePullSecrets": [{"name": "regcred"}],
        "nodeSelector": {"disk": "ssd"}, "tolerations": [{"key": "k", "operator": "Exists"}],
        "affinity": {"nodeAffinity": {}}, "podAnnotations": {"a": "1"}, "podLabels": {"team": "x"},
        "podSecurityContext": {"runAsUser": 1000}, "securityContext": {"privileged": False},
        "serviceAccount": {"create": True, "name": "ops-sa", "annotations": {"iam": "role"}},
        "priorityClassName": "high", "resources": {"limits": {"memory": "1Gi"}},
    }
    docs = _render_values(helm, values)
    deploy = next(d for d in docs if d["kind"] == "Deployment")
    pod = deploy["spec"]["template"]["spec"]
    assert deploy["metadata"]["name"] == "ops"
    assert pod["serviceAccountName"] == "ops-sa" and pod["priorityClassName"] == "high"
    for key in ("imagePullSecrets", "nodeSelector", "tolerations", "affinity"):
        assert pod[key] == values[key], key
    # Helm merges the given maps over the restricted defaults
    assert pod["securityContext"] == {"runAsUser": 1000, "runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["containers"][0]["securityContext"]["privileged"] is False
    assert pod["containers"][0]["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert deploy["spec"]["template"]["metadata"]["annotations"] == {"a": "1"}
    assert deploy["spec"]["template"]["metadata"]["labels"]["team"] == "x"
    account = next(d for d in docs if d["kind"] == "ServiceAccount")
    assert account["metadata"] == {**account["metadata"], "name": "ops-sa", "annotations": {"iam": "role"}}
    none = _render_values(helm, {"serviceAccount": {"create": False, "name": "existing"}, "rbac": {"create": False},
                                 "crds": {"install": False}})
    assert {d["kind"] for d in none} == {"Deployment", "Service"}


def _render_values(helm, values: dict) -> list[dict]:
    out = subprocess.run([str(helm), "template", "x", str(CHART), "-n", "wippy-system", "-f", "-"],
                         input=yaml.safe_dump(values), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def test_template_applies_with_server_dry_run(helm, kube):
    kube.kubectl("create", "namespace", "wippy-dry", check=False)
    for extra in ([], ["--set", "watchNamespaces={wippy-dry}", "--set", "webhook.enabled=true"]):
        rendered = helm_run(helm, kube, "template", "dry", str(CHART), "-n", "wippy-dry",
                            "--set", "temporal.address=temporal:7233", *extra).stdout
        out = kube.kubectl("apply", "--dry-run=server", "-n", "wippy-dry", "-f", "-", input=rendered).stdout
        assert "deployment.apps/dry-operator created (server dry run)" in out
        assert "customresourcedefinition.apiextensions.k8s.io/functionluas.wippy.ai" in out
        assert "clusterrole.rbac.authorization.k8s.io/dry-operator created (server dry run)" in out
        if extra:
            assert "role.rbac.authorization.k8s.io/dry-operator created (server dry run)" in out
            assert "secret/dry-operator-webhook-tls created (server dry run)" in out


def test_webhook_certificate_is_valid_for_its_service_and_kept(helm, kube):
    from cryptography import x509
    docs = render(helm, "--set", "webhook.enabled=true")
    secret = next(d for d in docs if d["kind"] == "Secret")
    cert = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["tls.crt"]))
    ca = x509.load_pem_x509_certificate(base64.b64decode(secret["data"]["ca.crt"]))
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert "x-operator-webhook.wippy-system.svc" in names
    cert.verify_directly_issued_by(ca)
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert "--webhook-service=wippy-system/x-operator-webhook:443" in container["args"]
    # its own ValidatingWebhookConfiguration: a release per team keeps one each
    assert "--webhook-config=x-operator.wippy-system.wippy.ai" in container["args"]
    assert {"name": "webhook-tls", "mountPath": "/etc/wippy/webhook", "readOnly": True} in container["volumeMounts"]
    # an existing Secret (cert-manager's, say) instead
    docs = render(helm, "--set", "webhook.enabled=true", "--set", "webhook.certSecret=from-cert-manager")
    assert not [d for d in docs if d["kind"] == "Secret"]
    volumes = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["volumes"]
    assert volumes == [{"name": "webhook-tls", "secret": {"secretName": "from-cert-manager"}}]


def older_chart(tmp: Path) -> Path:
    """The chart as an older release had it: FunctionLua's CRD without the Pin column."""
    chart = tmp / "wippy-old"
    shutil.copytree(CHART, chart)
    path = chart / "files" / "crds" / "wippy.ai_functionluas.yaml"
    crd = yaml.safe_load(path.read_text())
    version = crd["spec"]["versions"][0]
    version["additionalPrinterColumns"] = [c for c in version["additionalPrinterColumns"] if c["name"] != "Pin"]
    path.write_text(yaml.safe_dump(crd))
    return chart


def columns(kube) -> list[str]:
    crd = json.loads(kube.kubectl("get", "crd", "functionluas.wippy.ai", "-o", "json").stdout)
    return [c["name"] for c in crd["spec"]["versions"][0]["additionalPrinterColumns"]]


def test_helm_install_upgrade_and_namespaced_rbac(helm, kube, tmp_path):
    # the session's other tests may have applied the CRDs with kubectl: adopted, as the README says
    helm_run(helm, kube, "install", "wippy", str(older_chart(tmp_path)), "-n", "wippy-system", "--create-namespace",
             "--set", "image.tag=test", "--take-ownership")
    assert "Pin" not in columns(kube)
    deploy = json.loads(kube.kubectl("get", "deployment", "wippy-operator", "-n", "wippy-system", "-o", "json").stdout)
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "ghcr.io/wippy/wippy-operator:test"
    assert "--metrics-port=9090" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "health", "scheme": "HTTP"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health", "scheme": "HTTP"}
    crd = json.loads(kube.kubectl("get", "crd", "wippyapps.wippy.ai", "-o", "json").stdout)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"]["labels"]["app.kubernetes.io/instance"] == "wippy"
    # cluster-wide: the operator's account can do what it needs to grant the runtime, no more
    assert can_i(kube, "patch", "functionluas.wippy.ai", "--subresource=status", "-A")
    assert not can_i(kube, "get", "secrets", "-A")

    # helm upgrade upgrades the CRDs (they are templates) and, with watchNamespaces, RBAC becomes Roles
    for ns in ("team-a", "team-b"):
        kube.kubectl("create", "namespace", ns, check=False)
    helm_run(helm, kube, "upgrade", "wippy", str(CHART), "-n", "wippy-system", "--set", "image.tag=test",
             "--set", "watchNamespaces={team-a}")
    assert "Pin" in columns(kube)
    assert can_i(kube, "patch", "functionluas.wippy.ai", "--subresource=status", "-n", "team-a")
    assert can_i(kube, "create", "deployments.apps", "-n", "team-a")
    assert not can_i(kube, "patch", "functionluas.wippy.ai", "--subresource=status", "-n", "team-b")
    assert not can_i(kube, "create", "deployments.apps", "-n", "team-b")
    assert not can_i(kube, "list", "functionluas.wippy.ai", "-A")
    assert can_i(kube, "list", "customresourcedefinitions.apiextensions.k8s.io")

    # the operator, run with the chart's args under the chart's account, works in its namespace
    deploy = json.loads(kube.kubectl("get", "deployment", "wippy-operator", "-n", "wippy-system", "-o", "json").stdout)
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    health = free_port()
    args = [f"--health-port={health}" if a.startswith("--health-port=") else a for a in args
            if not a.startswith("--metrics-port=")]
    assert "--namespace=team-a" in args
    name, _ = service_account_user("wippy-system", "wippy-operator")
    operator = Operator(kube, tmp_path / "operator.log", *args, kubeconfig=kube.kubeconfig_for(name))
    operator.start()
    try:
        def probe(path: str) -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{health}{path}", timeout=3) as r:
                return r.status
        assert wait_for(lambda: probe("/livez"), 60, "operator /livez", tolerate=(OSError,)) == 200
        assert wait_for(lambda: probe("/readyz"), 60, "operator /readyz", tolerate=(OSError,)) == 200
        app = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"}, "spec": {}}
        for ns in ("team-a", "team-b"):
            kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(app))
        wait_for(lambda: kube.kubectl("get", "deployment", "shop", "-n", "team-a", check=False).returncode == 0,
                 60, "the app's Deployment in the watched namespace")
        assert kube.kubectl("get", "deployment", "shop", "-n", "team-b", check=False).returncode != 0
    finally:
        operator.stop()
        log = (tmp_path / "operator.log").read_text()
    assert "Forbidden" not in log, log[-3000:]

    # uninstall keeps the CRDs (and so every entry)
    helm_run(helm, kube, "uninstall", "wippy", "-n", "wippy-system")
    assert kube.kubectl("get", "wippyapp", "shop", "-n", "team-a", check=False).returncode == 0


def test_webhook_enabled_in_the_chart_registers_through_its_service(helm, kube, tmp_path):
    ns, release = "wippy-hooks", "hooked"
    webhook_config = "hooked-operator.wippy-hooks.wippy.ai"
    kube.kubectl("create", "namespace", "hooked-team")
    values = ["--set", "webhook.enabled=true", "--set", "crds.install=false", "--set", "metrics.enabled=false",
              "--set", "watchNamespaces={hooked-team}"]
    helm_run(helm, kube, "install", release, str(CHART), "-n", ns, "--create-namespace", *values)
    secret = json.loads(kube.kubectl("get", "secret", "hooked-operator-webhook-tls", "-n", ns, "-o", "json").stdout)
    # the certificate is made once: an upgrade keeps it (the CA the API server trusts stays valid)
    helm_run(helm, kube, "upgrade", release, str(CHART), "-n", ns, *values)
    again = json.loads(kube.kubectl("get", "secret", "hooked-operator-webhook-tls", "-n", ns, "-o", "json").stdout)
    assert again["data"] == secret["data"]
    service = json.loads(kube.kubectl("get", "service", "hooked-operator-webhook", "-n", ns, "-o", "json").stdout)
    assert service["spec"]["ports"][0]["targetPort"] == "webhook"

    deploy = json.loads(kube.kubectl("get", "deployment", "hooked-operator", "-n", ns, "-o", "json").stdout)
    certs = tmp_path / "certs"  # the Secret as the kubelet mounts it
    certs.mkdir()
    for key, value in secret["data"].items():
        (certs / key).write_bytes(base64.b64decode(value))
    local = {"--webhook-cert-dir=": str(certs), "--webhook-port=": str(free_port()),
             "--health-port=": str(free_port())}
    args = [next((k + v for k, v in local.items() if a.startswith(k)), a)
            for a in deploy["spec"]["template"]["spec"]["containers"][0]["args"] if not a.startswith("--peering")]
    operator = Operator(kube, tmp_path / "operator.log", *args)
    operator.start()
    try:
        # one configuration per release: releases watching other namespaces keep theirs
        hooks = wait_for(lambda: json.loads(kube.kubectl("get", "validatingwebhookconfiguration", webhook_config,
                                                         "-o", "json", check=False).stdout or "{}").get("webhooks"),
                         60, "the webhook registered")
        config = next(h for h in hooks if h["name"].startswith("validate-functionluas"))["clientConfig"]
        assert config["service"] == {"namespace": ns, "name": "hooked-operator-webhook", "port": 443,
                                     "path": "/validate-functionluas"}
        assert config["caBundle"] == secret["data"]["ca.crt"]
        # with watchNamespaces the API server asks it only about entries of those namespaces
        assert {json.dumps(h.get("namespaceSelector"), sort_keys=True) for h in hooks} == {json.dumps(
            {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                   "values": ["hooked-team"]}]}, sort_keys=True)}
    finally:
        operator.stop()
        # the webhook is cluster-wide: the other tests of the session must not meet it
        kube.kubectl("delete", "validatingwebhookconfiguration", webhook_config, "--ignore-not-found", check=False)
        helm_run(helm, kube, "uninstall", release, "-n", ns, check=False)


def test_webhook_namespace_selector_reaches_the_operator(helm, kube):
    def args(*values):
        docs = render(helm, "--set", "webhook.enabled=true", *values)
        deploy = next(d for d in docs if d["kind"] == "Deployment")
        return [a for a in deploy["spec"]["template"]["spec"]["containers"][0]["args"]
                if a.startswith("--webhook-namespace-selector")]
    assert args() == []
    selector = {"matchLabels": {"wippy.ai/admission": "enabled"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}
    (arg,) = args("--set-json", f"webhook.namespaceSelector={json.dumps(selector)}")
    assert json.loads(arg.partition("=")[2]) == selector
    refused = subprocess.run([str(helm), "template", "x", str(CHART), "--set-json",
                              'webhook.namespaceSelector={"matchLabel": {"a": "b"}}'], capture_output=True, text=True)
    assert refused.returncode != 0 and "matchLabel" in refused.stderr


def test_alerts_and_dashboard_are_rendered_when_asked(helm, kube):
    assert not [d for d in render(helm) if d["kind"] in ("PrometheusRule", "ConfigMap")]
    docs = render(helm, "--set", "metrics.prometheusRule.enabled=true", "--set", "metrics.dashboard.enabled=true",
                  "--set", "metrics.prometheusRule.labels.release=prom")
    rule = next(d for d in docs if d["kind"] == "PrometheusRule")
    assert rule["metadata"]["labels"]["release"] == "prom"
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert "WippyHTTPErrors" in alerts and "{{ $labels.service }}" in alerts["WippyHTTPErrors"]["annotations"]["summary"]
    dashboard = next(d for d in docs if d["kind"] == "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    panels = json.loads(dashboard["data"]["wippy.json"])["panels"]
    assert len(panels) >= 10 and all(p["targets"][0]["expr"] for p in panels)
    # the ConfigMap is a valid object for the API server (the PrometheusRule needs the Prometheus Operator's CRD)
    kube.kubectl("create", "namespace", "wippy-system", check=False)
    kube.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(dashboard))
