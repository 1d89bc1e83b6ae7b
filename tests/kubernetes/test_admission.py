"""The validating admission webhook on a real API server: what a user sees from `kubectl apply`.
The operator serves it (kopf's server, a self-signed certificate it makes) and registers it."""
from __future__ import annotations

import json
import os

import pytest

from tests.harness.kube_cluster import free_port
from tests.harness.operator_process import Operator, install_crds
from tests.harness.processes import wait_for


@pytest.fixture(scope="module")
def operator(kube, tmp_path_factory):
    install_crds(kube)
    tmp = tmp_path_factory.mktemp("operator")
    op = Operator(kube, tmp / "operator.log", "--webhook-port", str(free_port()), "--webhook-host", "127.0.0.1",
                  "--webhook-cert-dir", str(tmp / "certs"))
    op.start()
    try:
        # kopf may create the configuration first and fill in its webhooks a moment later
        hooks = wait_for(lambda: (json.loads(kube.kubectl("get", "validatingwebhookconfiguration", "wippy.ai", "-o",
                                                          "json", check=False).stdout or "{}")).get("webhooks"),
                         what="the webhook registered")
        assert {h["failurePolicy"] for h in hooks} == {"Ignore"}
        yield op
    finally:
        # the webhook is cluster-wide: the other tests of the session must not meet it
        op.stop()
        kube.kubectl("delete", "validatingwebhookconfiguration", "wippy.ai", "--ignore-not-found", check=False)


def function(name: str, entry_id: str, source: str, **spec) -> dict:
    return {"apiVersion": "wippy.ai/v1alpha1", "kind": "FunctionLua",
            "metadata": {"name": name, "labels": {"wippy.ai/app": "shop"}},
            "spec": {"id": entry_id, "source": source, "method": "f", **spec}}


def apply(kube, ns, obj):
    return kube.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj), check=False)


def test_kubectl_apply_refuses_what_the_operator_would_stall_and_warns_of_missing_references(kube, operator):
    ns = f"adm-{os.getpid()}"
    kube.kubectl("create", "namespace", ns)
    ok = "return {f = function() return 1 end}"
    # the webhook may answer a moment after its configuration exists
    wait_for(lambda: "LuaSyntaxError" in apply(kube, ns, function("bad", "app:bad", "return {f = function( end}")).stderr,
             what="the webhook answering")
    refused = apply(kube, ns, function("bad", "app:bad", "return {f = function( end}"))
    assert refused.returncode != 0
    assert 'admission webhook "validate-functionluas.wippy.ai" denied the request' in refused.stderr
    assert "LuaSyntaxError: Lua syntax error" in refused.stderr and "app:bad" in refused.stderr
    assert kube.kubectl("get", "functionlua/bad", "-n", ns, check=False).returncode != 0

    assert apply(kube, ns, function("greeter", "app:greet", ok)).returncode == 0
    wait_for(lambda: json.loads(kube.kubectl("get", "functionlua/greeter", "-n", ns, "-o", "json").stdout)
             .get("status", {}).get("latestRevision") == 1, what="the operator to know app:greet")
    twin = apply(kube, ns, function("greeter-2", "app:greet", ok))
    assert twin.returncode != 0
    assert "IdCollision: entry id app:greet is already defined by FunctionLua greeter" in twin.stderr
    # the same object changed is no collision with itself
    assert apply(kube, ns, function("greeter", "app:greet", "return {f = function() return 2 end}")).returncode == 0

    early = apply(kube, ns, function("caller", "app:caller", ok, imports={"lib": "app:later"}))
    assert early.returncode == 0
    assert "Warning:" in early.stderr and "app:later" in early.stderr


def test_kubectl_apply_refuses_an_unknown_module_and_a_method_the_code_does_not_return(kube, operator):
    ns = f"adm-mod-{os.getpid()}"
    kube.kubectl("create", "namespace", ns)
    ok = "return {f = function() return 1 end}"
    wait_for(lambda: "UnknownModule" in apply(kube, ns, function("typo", "app:typo", ok, modules=["htttp"])).stderr,
             what="the webhook answering")
    typo = apply(kube, ns, function("typo", "app:typo", ok, modules=["htttp"]))
    assert typo.returncode != 0
    assert "UnknownModule: unknown module 'htttp' in modules (did you mean 'http'?)" in typo.stderr
    wrong = apply(kube, ns, function("wrong", "app:wrong", ok, method="g"))
    assert wrong.returncode != 0
    assert "MissingMethod: method 'g' is not in the table the code returns (it has f)" in wrong.stderr
    # what the code builds step by step, or a function it returns, is the pod's to run
    built = "local M = {}\nfunction M.f() return 1 end\nreturn M"
    assert apply(kube, ns, function("built", "app:built", built, method="g")).returncode == 0
    assert apply(kube, ns, function("granted", "app:granted", ok, modules=["json"])).returncode == 0
