"""An operator that watches some namespaces judges only their entries at admission: its webhooks
carry a namespaceSelector, so the API server never asks it about any other namespace."""
from __future__ import annotations

import json
import os

from tests.harness.kube_cluster import free_port
from tests.harness.operator_process import Operator, install_crds
from tests.harness.processes import wait_for

BAD = {"apiVersion": "wippy.ai/v1alpha1", "kind": "FunctionLua",
       "metadata": {"name": "bad", "labels": {"wippy.ai/app": "shop"}},
       "spec": {"id": "app:bad", "source": "return {f = function( end}", "method": "f"}}


def test_webhook_of_a_namespaced_operator_checks_only_its_namespaces(kube, tmp_path):
    install_crds(kube)
    watched, other = f"adm-watched-{os.getpid()}", f"adm-other-{os.getpid()}"
    for ns in (watched, other):
        kube.kubectl("create", "namespace", ns)
    op = Operator(kube, tmp_path / "operator.log", "--namespace", watched, "--webhook-port", str(free_port()),
                  "--webhook-host", "127.0.0.1", "--webhook-cert-dir", str(tmp_path / "certs"))
    op.start()
    try:
        hooks = wait_for(lambda: (json.loads(kube.kubectl("get", "validatingwebhookconfiguration", "wippy.ai", "-o",
                                                          "json", check=False).stdout or "{}")).get("webhooks"),
                         what="the webhook registered")
        selector = {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                          "values": [watched]}]}
        assert all(h["namespaceSelector"] == selector for h in hooks), hooks

        def apply(ns):
            return kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(BAD), check=False)
        refused = wait_for(lambda: (r := apply(watched)).returncode != 0 and r, what="the webhook answering")
        assert "LuaSyntaxError" in refused.stderr
        # elsewhere it is not asked: the object is stored (and no operator of this one's marks it)
        admitted = apply(other)
        assert admitted.returncode == 0, admitted.stderr
        assert kube.kubectl("get", "functionlua/bad", "-n", other, check=False).returncode == 0
    finally:
        op.stop()
        # the webhook configuration is cluster-wide: the other tests of the session must not meet it
        kube.kubectl("delete", "validatingwebhookconfiguration", "wippy.ai", "--ignore-not-found", check=False)


def test_webhook_checks_the_namespaces_its_label_selector_matches(kube, tmp_path):
    """--webhook-namespace-selector (the chart's webhook.namespaceSelector): a namespace labelled
    to match is checked, others are not; with --namespace, both must hold."""
    install_crds(kube)
    labelled, unlabelled = f"adm-sel-on-{os.getpid()}", f"adm-sel-off-{os.getpid()}"
    for ns in (labelled, unlabelled):
        kube.kubectl("create", "namespace", ns)
    kube.kubectl("label", "namespace", labelled, "wippy.ai/admission=enabled")
    selector = {"matchLabels": {"wippy.ai/admission": "enabled"},
                "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["sandbox"]}]}
    op = Operator(kube, tmp_path / "operator.log", "--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1",
                  "--webhook-cert-dir", str(tmp_path / "certs"), "--webhook-namespace-selector", json.dumps(selector))
    op.start()
    try:
        hooks = wait_for(lambda: (json.loads(kube.kubectl("get", "validatingwebhookconfiguration", "wippy.ai", "-o",
                                                          "json", check=False).stdout or "{}")).get("webhooks"),
                         what="the webhook registered")
        assert all(h["namespaceSelector"] == selector for h in hooks), hooks

        def apply(ns):
            return kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(BAD), check=False)
        refused = wait_for(lambda: (r := apply(labelled)).returncode != 0 and r, what="the webhook answering")
        assert "LuaSyntaxError" in refused.stderr
        admitted = apply(unlabelled)
        assert admitted.returncode == 0, admitted.stderr
        # a label the expression excludes takes the namespace out too
        kube.kubectl("label", "namespace", labelled, "tier=sandbox")
        assert wait_for(lambda: apply(labelled).returncode == 0, what="the sandbox namespace no longer checked")
    finally:
        op.stop()
        kube.kubectl("delete", "validatingwebhookconfiguration", "wippy.ai", "--ignore-not-found", check=False)


def test_a_namespace_selector_the_api_server_would_refuse_stops_the_operator_at_start():
    import subprocess
    import sys
    for bad, says in [('{"matchLabel": {"a": "b"}}', "not matchLabel"),
                      ('{"matchExpressions": [{"key": "a", "operator": "In"}]}', "operator In or NotIn and values"),
                      ("team=shop", "--webhook-namespace-selector 'team=shop'")]:
        r = subprocess.run([sys.executable, "-m", "wippy_operator", "--webhook-port", "9443",
                            "--webhook-namespace-selector", bad], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and says in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "wippy_operator", "--webhook-namespace-selector", '{"matchLabels": {}}'],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "needs --webhook-port" in r.stderr
