"""Status that tells the truth, as the tools that read it judge it: each entry's health computed by
the real kstatus library (Flux, cli-utils) and by the Argo CD health check shipped in the chart
(helm/files/argocd-health.lua, run with lupa on the objects as the API server returns them)."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lupa import lua54

from tests.harness import kstatus
from tests.harness.operator_process import Operator, install_crds
from tests.harness.processes import wait_for
from tests.harness.reports import report

ROOT = Path(__file__).resolve().parents[2]
GRACE = 3  # the operator's --no-app-grace


@pytest.fixture(scope="module")
def operator(kube, tmp_path_factory):
    install_crds(kube)
    op = Operator(kube, tmp_path_factory.mktemp("operator") / "operator.log", "--no-app-grace", str(GRACE))
    op.start()
    yield op
    op.stop()


def get(kube, ns, ref) -> dict:
    return json.loads(kube.kubectl("get", ref, "-n", ns, "-o", "json").stdout)


def ready(obj: dict) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def function(name: str, source: str, app: str = "shop") -> dict:
    return {"apiVersion": "wippy.ai/v1alpha1", "kind": "FunctionLua", "metadata": {"name": name, "labels": {"wippy.ai/app": app}},
            "spec": {"id": f"app:{name}", "source": source, "method": "f"}}


def apply(kube, ns, *objects) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input={"apiVersion": "v1", "kind": "List", "items": list(objects)})


def argocd_health(obj: dict) -> dict:
    lua = lua54.LuaRuntime(register_eval=False)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    hs = lua.execute((ROOT / "helm/files/argocd-health.lua").read_text())
    return {"status": hs["status"], "message": hs["message"]}


def test_kstatus_and_argocd_health_of_ready_changing_broken_pinned_and_orphaned_entries(kube, operator):
    ns = f"health-{os.getpid()}"
    kube.kubectl("create", "namespace", ns)
    ok = "return {f = function() return 1 end}"
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"}, "spec": {}},
          function("ready", ok), function("changing", ok), function("broken", "return {f = function( end}"),
          function("pinned", ok), function("orphaned", ok, app="nobody"))
    for name in ("ready", "changing", "pinned"):
        wait_for(lambda name=name: get(kube, ns, f"functionlua/{name}").get("status", {}).get("latestRevision") == 1,
                 what=f"{name} recorded")
    # pinned: a second revision, the pin keeps serving the first
    apply(kube, ns, function("pinned", "return {f = function() return 2 end}"))
    wait_for(lambda: get(kube, ns, "functionlua/pinned").get("status", {}).get("latestRevision") == 2, what="rev 2")
    kube.kubectl("annotate", "-n", ns, "functionlua/pinned", "wippy.ai/pin-revision=1")
    wait_for(lambda: get(kube, ns, "functionlua/pinned")["status"].get("activeRevision") == 1, what="pinned")
    report(kube, ns, "functionlua/ready", "shop-pod-1", 1, app="shop")
    report(kube, ns, "functionlua/pinned", "shop-pod-1", 1, app="shop")
    wait_for(lambda: ready(get(kube, ns, "functionlua/ready")).get("status") == "True", what="ready")
    wait_for(lambda: ready(get(kube, ns, "functionlua/pinned")).get("status") == "True", what="pinned ready")
    wait_for(lambda: ready(get(kube, ns, "functionlua/orphaned")).get("message", "").startswith("no WippyApp"),
             timeout=GRACE + 30, what="orphaned stalled after the grace period")

    objects = json.loads(kube.kubectl("get", "functionluas", "-n", ns, "-o", "json").stdout)["items"]
    by_name = {o["metadata"]["name"]: o for o in objects}
    health = kstatus.compute(objects)
    argo = {name: argocd_health(o) for name, o in by_name.items()}
    table = "\n".join(f"{n:10} kstatus={health[n][0]:11} argocd={argo[n]['status']:12} {ready(by_name[n]).get('message')}"
                      for n in sorted(by_name))
    print("\n" + table)
    expected = {"ready": ("Current", "Healthy"), "changing": ("InProgress", "Progressing"),
                "broken": ("Failed", "Degraded"), "pinned": ("Current", "Healthy"),
                "orphaned": ("Failed", "Degraded")}
    assert {n: (health[n][0], argo[n]["status"]) for n in expected} == expected, table

    # what the status says: the pin and what is served, in fields, columns and Ready's message
    pinned = by_name["pinned"]["status"]
    assert (pinned["pinnedRevision"], pinned["activeRevision"], pinned["latestRevision"], pinned["servedRevision"]) \
        == (1, 1, 2, 1)
    assert "pinned to revision 1 by wippy.ai/pin-revision; latest is 2" in ready(by_name["pinned"])["message"]
    assert "labelled wippy.ai/app=nobody" in ready(by_name["orphaned"])["message"]
    columns = kube.kubectl("get", "functionlua/pinned", "-n", ns).stdout.split("\n")
    header, row = columns[0].split(), columns[1].split()
    assert dict(zip(header, row))["SERVED"] == "1" and dict(zip(header, row))["PIN"] == "1"
