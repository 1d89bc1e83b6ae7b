"""Two operator replicas sharing one kopf peering, on a real API server: one reconciles, the other
stands by and does nothing; when the active one is killed (SIGKILL: no goodbye in the peering), the
standby takes over once the dead replica's heartbeat expires, and reconciles the next change.

The replicas run as `python -m wippy_operator`, as the chart's Deployment runs them (POD_ID is
the pod's name); the test plays the runtime pod by reporting in the app's report map."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import processes
from tests.harness.reports import report

ROOT = Path(__file__).resolve().parents[2]
PEERING_CRDS = [arg for name in ("clusterkopfpeerings", "kopfpeerings")
                for arg in ("-f", str(ROOT / f"helm/files/crds/kopf.dev_{name}.yaml"))]
LIFETIME = 20  # seconds a heartbeat counts (the chart's default is 60)


def wait_for(fn, timeout=60.0, what="condition"):
    return processes.wait_for(fn, timeout, what, interval=0.3)


class Replica:
    def __init__(self, kube, name: str, peering: str, priority: int, log: Path):
        self.name, self.log = name, log
        with open(log, "w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wippy_operator", "--peering", peering, "--priority", str(priority),
                 "--peering-lifetime", str(LIFETIME), "--metrics-port", "0", "--log-level", "DEBUG"],
                stdout=out, stderr=subprocess.STDOUT,
                env={**os.environ, "KUBECONFIG": str(kube.kubeconfig), "POD_ID": name})

    def text(self) -> str:
        return self.log.read_text()

    def handled(self) -> int:
        """How many handler runs the replica logged (kopf logs each at INFO, shown at --log-level DEBUG)."""
        return sum(1 for line in self.text().splitlines() if "Handler '" in line)

    def stop(self) -> None:
        processes.stop_process(self.proc)


@pytest.fixture
def replicas(kube, tmp_path):
    started: list[Replica] = []

    def start(name: str, peering: str, priority: int) -> Replica:
        started.append(Replica(kube, name, peering, priority, tmp_path / f"{name}.log"))
        return started[-1]

    yield start
    for r in started:
        r.stop()


def get(kube, ns, ref) -> dict:
    return json.loads(kube.kubectl("get", ref, "-n", ns, "-o", "json").stdout)


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == kind), {})


def function(name: str, source: str) -> dict:
    return {"apiVersion": "wippy.ai/v1alpha1", "kind": "FunctionLua",
            "metadata": {"name": f"app.{name}", "labels": {"wippy.ai/app": "demo"}},
            "spec": {"id": f"app:{name}", "source": source, "method": "f"}}


def apply(kube, ns, obj) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=obj)


def change_and_see_ready(kube, ns, source: str) -> dict:
    """Change the function; once the operator has recorded the new revision, report it applied as
    the app's pod would, and wait for Ready on the new generation."""
    apply(kube, ns, function("f", source))
    generation = get(kube, ns, "functionlua/app.f")["metadata"]["generation"]
    obj = wait_for(lambda: (o := get(kube, ns, "functionlua/app.f"))
                   and o.get("status", {}).get("observedGeneration") == generation and o,
                   what=f"the operator to observe generation {generation}")
    revision = obj["status"]["activeRevision"]
    report(kube, ns, "functionlua/app.f", "demo-pod", revision, app="demo", generation=generation)
    return wait_for(lambda: (o := get(kube, ns, "functionlua/app.f"))
                    and condition(o, "Ready").get("status") == "True"
                    and condition(o, "Ready").get("observedGeneration") == generation and o,
                    what=f"Ready on generation {generation}")


def warning_writers(kube, ns, name: str) -> set[str]:
    """The replicas that posted Warning Events about an object (their reportingInstance)."""
    items = json.loads(kube.kubectl("get", "events", "-n", ns, "--field-selector",
                                    f"involvedObject.name={name},type=Warning", "-o", "json").stdout)["items"]
    return {e.get("reportingInstance") for e in items}


def test_one_replica_works_and_the_standby_takes_over_when_it_dies(kube, replicas):
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"),
                 *PEERING_CRDS)
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=wippy")
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "clusterkopfpeerings.kopf.dev")
    peering, ns = f"ha-{os.getpid()}", f"ha-{os.getpid()}"
    kube.kubectl("create", "namespace", ns)
    apply(kube, ns, {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "demo"}, "spec": {}})

    # the first replica works alone
    first = replicas("wippy-operator-a", peering, priority=200)
    assert wait_for(lambda: f"{first.name} is active" in first.text(), what="the first replica to be active")
    assert change_and_see_ready(kube, ns, "return {f = function() return 1 end}")["status"]["latestRevision"] == 1

    # a second one with a lower priority stands by, and says so
    second = replicas("wippy-operator-b", peering, priority=100)
    wait_for(lambda: f"{second.name} is standby: {first.name} has a higher priority" in second.text(),
             what="the second replica to stand by")

    # only the active replica reconciles: status, revisions, Events
    obj = change_and_see_ready(kube, ns, "return {f = function() return 2 end}")
    assert obj["status"]["latestRevision"] == 2
    apply(kube, ns, function("bad", "return {f = function( end}"))
    wait_for(lambda: condition(get(kube, ns, "functionlua/app.bad"), "Ready").get("reason") == "LuaSyntaxError",
             what="the broken entry to be reported")
    assert wait_for(lambda: warning_writers(kube, ns, "app.bad"), what="a Warning Event") == {first.name}
    assert first.handled() > 0
    assert second.handled() == 0, second.text()

    # the active replica dies without leaving the peering; the standby waits out its heartbeat
    first.proc.kill()
    first.proc.wait()
    wait_for(lambda: "Resuming operations after the pause" in second.text(), timeout=LIFETIME + 60,
             what="the standby to take over")
    wait_for(lambda: f"{second.name} is active" in second.text(), what="its own report to agree")
    obj = change_and_see_ready(kube, ns, "return {f = function() return 3 end}")
    assert obj["status"]["latestRevision"] == 3
    apply(kube, ns, function("worse", "return {f = function( end}"))
    assert wait_for(lambda: warning_writers(kube, ns, "app.worse"), what="a Warning Event") == {second.name}
    assert second.handled() > 0


def test_startup_outlasts_a_forbidden_peering_until_rights_arrive(kube, tmp_path):
    """Started while its RBAC is not there yet (as during an API server restart, or before the
    chart's ClusterRoleBinding lands), the operator retries with backoff instead of exiting."""
    from tests.harness.operator_process import Operator, install_crds
    install_crds(kube)
    kube.kubectl("apply", "--server-side", "--force-conflicts", *PEERING_CRDS)
    user = "alice"   # a user of the test cluster with no rights on peerings
    op = Operator(kube, tmp_path / "operator.log", "--peering", "late-rbac", kubeconfig=kube.kubeconfig_for(user))
    op.start()
    try:
        wait_for(lambda: "403" in (tmp_path / "operator.log").read_text()
                 and "retrying" in (tmp_path / "operator.log").read_text(), what="a retried 403")
        assert op.proc.poll() is None
        kube.kubectl("create", "clusterrolebinding", "late-rbac", "--clusterrole=cluster-admin", f"--user={user}")
        wait_for(lambda: kube.kubectl("get", "clusterkopfpeering", "late-rbac", check=False).returncode == 0,
                 what="the peering created once the rights arrived")
        assert op.proc.poll() is None
    finally:
        op.stop()
        kube.kubectl("delete", "clusterrolebinding", "late-rbac", check=False)
