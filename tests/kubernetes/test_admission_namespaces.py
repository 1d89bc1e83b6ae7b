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
