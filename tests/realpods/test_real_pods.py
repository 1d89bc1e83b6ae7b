"""The user story with real pods: `helm install` the chart with the built operator image, the
operator runs as its pod with its ServiceAccount's token, `kubectl apply` an app, and the
operator's Deployment runs real runtime pods from the runtime image that serve HTTP, mesh with
each other, act with exactly their own RBAC, take a changed entry live, keep their PodDisruptionBudget, survive a
`helm upgrade` of the operator, roll when the app's resources or image change, and go away with
the app."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.harness import processes
from wippy.kube import projection
from tests.harness.cluster_node import ClusterNode
from tests.harness.kube_cluster import KubectlError

ROOT = Path(__file__).resolve().parents[2]
WIPPY = str(Path(sys.executable).with_name("wippy"))
NS = "shop"
APP = "hello"
PORT = 8080
RESTRICTED = {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
              "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def wait_for(fn, timeout=120.0, what="condition"):
    return processes.wait_for(fn, timeout, what, interval=0.3,
                              tolerate=(urllib.error.URLError, OSError, KeyError, ValueError, KubectlError))


def get_json(node: ClusterNode, *args: str) -> dict:
    return json.loads(node.kubectl("get", *args, "-o", "json").stdout)


def runtime_pods(node: ClusterNode) -> list[dict]:
    pods = get_json(node, "pods", "-n", NS, "-l", f"app.kubernetes.io/instance={APP}")["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def all_ready(pods: list[dict], count: int) -> bool:
    def ready(p: dict) -> bool:
        return any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", []))
    return len(pods) == count and all(ready(p) for p in pods)


def hello(ip: str, who: str = "ann") -> str:
    with urllib.request.urlopen(f"http://{ip}:{PORT}/api/hello/{who}", timeout=3) as r:
        return json.loads(r.read())["message"]


def mesh_peers(ip: str) -> dict:
    with urllib.request.urlopen(f"http://{ip}:{PORT}/api/members", timeout=3) as r:
        return json.loads(r.read())


def meshed(pods: list[dict]) -> bool:
    """Every pod counts each other pod as a member with a mesh connection (found through the
    EndpointSlices of the app's peers Service, connected pod IP to pod IP)."""
    names = {p["metadata"]["name"] for p in pods}
    for pod in pods:
        seen = mesh_peers(pod["status"]["podIP"])
        if seen["node"] != pod["metadata"]["name"] or set(seen["peers"]) != names - {seen["node"]}:
            return False
    return True


# an entry added to the example app: who this pod is and which members it is connected to
MEMBERS = [
    {"apiVersion": "wippy.ai/v1alpha1", "kind": "FunctionLua",
     "metadata": {"name": "app.members", "namespace": NS, "labels": {"wippy.ai/app": APP}},
     "spec": {"id": "app:members", "method": "handler", "modules": ["http", "system"], "source": """
local http = require("http")
local system = require("system")
return {handler = function()
  local peers = {}
  for _, m in ipairs(system.cluster.members()) do
    if not m.is_local and m.meta.connected == "true" then peers[#peers + 1] = m.id end
  end
  http.response():write_json({node = system.node.id(), peers = peers})
end}
"""}},
    {"apiVersion": "wippy.ai/v1alpha1", "kind": "HttpEndpoint",
     "metadata": {"name": "app.members.get", "namespace": NS, "labels": {"wippy.ai/app": APP}},
     "spec": {"id": "app:members.get", "meta": {"router": "api"}, "method": "GET", "path": "/members",
              "func": "members"}},
]


def helm(node: ClusterNode, *args: str) -> str:
    assert node.bin_dir is not None and node.kube is not None
    proc = subprocess.run([str(node.bin_dir / "helm"), "--kubeconfig", str(node.kube.kubeconfig), *args],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"helm {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def exec_python(node: ClusterNode, pod: str, ns: str, code: str) -> str:
    return node.kubectl("exec", pod, "-n", ns, "--", "python", "-c", code).stdout


# what the pod's own ServiceAccount token may do: who it is, the app's entry map, a Secret
TOKEN_CHECK = """from kubernetes import client, config
config.load_incluster_config()
v1 = client.CoreV1Api()
def status(call):
    try:
        call()
        return 200
    except client.ApiException as e:
        return e.status
review = client.AuthenticationV1Api().create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                 "kind": "SelfSubjectReview"})
print(review.status.user_info.username,
      status(lambda: v1.read_namespaced_config_map("%s", "%s")),
      status(lambda: v1.list_namespaced_secret("%s")),
      status(lambda: v1.list_namespaced_pod("%s")))"""

# uid, and whether the root filesystem refuses a write (EROFS)
SELF_CHECK = """import errno, os
try:
    open("/wippy-write-probe", "w")
    ro = False
except OSError as e:
    ro = e.errno == errno.EROFS
print(os.getuid(), os.getgid(), "read-only" if ro else "writable")"""


@pytest.fixture(scope="module")
def operator(node: ClusterNode) -> Iterator[str]:
    """The chart installed with the locally built images (the operator's, and the runtime's as the
    apps' default); yields the operator's namespace."""
    repo, tag = node.images["operator"].ref.rsplit(":", 1)
    runtime_repo, runtime_tag = node.images["runtime"].ref.rsplit(":", 1)
    helm(node, "install", "wippy", str(ROOT / "helm"), "-n", "wippy-system", "--create-namespace",
         "--set", f"image.repository={repo}", "--set", f"image.tag={tag}", "--set", "image.pullPolicy=Never",
         "--set", f"runtime.image.repository={runtime_repo}", "--set", f"runtime.image.tag={runtime_tag}",
         "--wait", "--timeout=5m")
    yield "wippy-system"
    helm(node, "uninstall", "wippy", "-n", "wippy-system", "--wait", "--timeout=2m")


@pytest.mark.parametrize("image", ["operator", "runtime"])
def test_image_runs_as_non_root_with_a_read_only_root_filesystem(node: ClusterNode, image: str):
    """The image's own user (no runAsUser given) passes runAsNonRoot, and Python starts and the
    project imports with the root filesystem read-only and every capability dropped."""
    name = f"selfcheck-{image}"
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"restartPolicy": "Never", "containers": [{
               "name": "check", "image": node.images[image].ref, "imagePullPolicy": "Never",
               "command": ["python", "-c", "import wippy, wippy_operator\n" + SELF_CHECK],
               "securityContext": RESTRICTED}]}}
    node.kubectl("apply", "-f", "-", input=json.dumps(pod))
    phase = wait_for(lambda: (p := get_json(node, "pod", name)["status"].get("phase")) in ("Succeeded", "Failed") and p,
                     what=f"the {image} check pod to finish")
    out = node.kubectl("logs", name).stdout.split()
    assert phase == "Succeeded", out
    uid, _gid, root_fs = out
    assert int(uid) != 0 and root_fs == "read-only"
    node.kubectl("delete", "pod", name, "--wait=false")


def test_operator_runs_the_app_in_real_pods(node: ClusterNode, operator: str):
    # the operator: its pod, with its ServiceAccount's token (it reconciles below only if its RBAC suffices)
    op_pod = get_json(node, "pods", "-n", operator)["items"][0]
    assert op_pod["spec"]["serviceAccountName"] == "wippy-operator"
    assert any(v.get("projected") for v in op_pod["spec"]["volumes"]), "no ServiceAccount token mounted"
    uid, _, root_fs = exec_python(node, op_pod["metadata"]["name"], operator, SELF_CHECK).split()
    assert int(uid) != 0 and root_fs == "read-only"

    # the app, rendered from its folder by `wippy manifests`, applied with kubectl
    docs = list(yaml.safe_load_all(subprocess.run(
        [WIPPY, "manifests", str(ROOT / "examples" / "http-hello"), "--app", APP, "-n", NS],
        check=True, capture_output=True, text=True).stdout)) + MEMBERS
    app = next(d for d in docs if d["kind"] == "WippyApp")
    app["spec"].update(replicas=2, env=[{"name": "HTTP_ADDR", "value": f"0.0.0.0:{PORT}"}])
    node.kubectl("create", "namespace", NS)
    t0 = time.monotonic()
    node.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    pods = wait_for(lambda: all_ready(p := runtime_pods(node), 2) and p, timeout=300, what="2 Ready runtime pods")
    print(f"\n[figure] kubectl apply -> 2 runtime pods Ready: {time.monotonic() - t0:.1f} s")
    node.kubectl("rollout", "status", f"deployment/{APP}", "-n", NS, "--timeout=60s")

    # each pod (the chart's runtime image, found on the node) passed its probes and serves the app on
    # its own address, reached from the host
    for pod in pods:
        container = pod["spec"]["containers"][0]
        assert container.get("readinessProbe") and container.get("livenessProbe")
        assert wait_for(lambda ip=pod["status"]["podIP"]: hello(ip), what="HTTP from the pod") == "hello, ann"
        assert pod["spec"]["serviceAccountName"] == f"{APP}-runtime"
        assert container["image"] == node.images["runtime"].ref
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    # the replicas form one cluster: each found the other through the EndpointSlices and meshed with it
    assert wait_for(lambda: meshed(pods), what="the 2 pods meshed") is True
    first = pods[0]["metadata"]["name"]
    uid, _, root_fs = exec_python(node, first, NS, SELF_CHECK).split()
    assert int(uid) != 0 and root_fs == "read-only"
    # the pod's own token (mounted by the ServiceAccount admission) gets exactly the app's RBAC
    maps = node.kubectl("get", "configmaps", "-n", NS, "-o", "name").stdout.split()
    entry_map = next(m.split("/")[1] for m in maps
                     if m.split("/")[1] in {projection.entries_map(APP, i) for i in range(projection.SHARDS)})
    who, entries, secrets, others = exec_python(node, first, NS, TOKEN_CHECK % (entry_map, NS, NS, NS)).split()
    assert who == f"system:serviceaccount:{NS}:{APP}-runtime"
    assert (entries, secrets, others) == ("200", "403", "403")

    # a changed entry is served live, without a pod restart
    greeter = next(d for d in docs if d["kind"] == "FunctionLua" and d["spec"]["id"] == f"app:{APP}")
    greeter["spec"]["source"] = greeter["spec"]["source"].replace('or "hello"', 'or "howdy"')
    assert "howdy" in greeter["spec"]["source"]
    node.kubectl("apply", "-f", "-", input=json.dumps(greeter))
    for pod in pods:
        assert wait_for(lambda ip=pod["status"]["podIP"]: hello(ip) == "howdy, ann", what="the new code") is True
    same = {p["metadata"]["name"]: p for p in runtime_pods(node)}
    assert set(same) == {p["metadata"]["name"] for p in pods}
    assert all(p["status"]["containerStatuses"][0]["restartCount"] == 0 for p in same.values())

    # the PodDisruptionBudget (minAvailable 1 of 2): one eviction goes through, the next is refused
    wait_for(lambda: get_json(node, "pdb", APP, "-n", NS).get("status", {}).get("disruptionsAllowed") == 1,
             what="the disruption controller to allow 1")
    evict = lambda name: node.kubectl(  # noqa: E731
        "create", "--raw", f"/api/v1/namespaces/{NS}/pods/{name}/eviction", "-f", "-", check=False,
        input=json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": NS}}))
    assert evict(pods[0]["metadata"]["name"]).returncode == 0
    refused = evict(pods[1]["metadata"]["name"])
    assert refused.returncode != 0 and "disruption budget" in refused.stderr, refused.stderr
    wait_for(lambda: all_ready(runtime_pods(node), 2), timeout=300, what="the evicted pod replaced")
    same = {p["metadata"]["name"]: p for p in runtime_pods(node)}

    # `helm upgrade --wait` rolls the operator; the new one reconciles what follows
    helm(node, "upgrade", "wippy", str(ROOT / "helm"), "-n", operator, "--reuse-values", "--set", "logLevel=DEBUG",
         "--wait", "--timeout=5m")
    op_pods = [p for p in get_json(node, "pods", "-n", operator)["items"] if not p["metadata"].get("deletionTimestamp")]
    assert [p["spec"]["containers"][0]["args"][0] for p in op_pods] == ["--log-level=DEBUG"]
    node.kubectl("rollout", "status", "deployment/wippy-operator", "-n", operator, "--timeout=120s")

    # changing the app's resources rolls the pods (a new ReplicaSet), and the new pods serve the change
    node.kubectl("patch", "wippyapp", APP, "-n", NS, "--type=merge", "-p",
                 json.dumps({"spec": {"resources": {"requests": {"cpu": "10m", "memory": "64Mi"}}}}))
    rolled = wait_for(lambda: all_ready(p := runtime_pods(node), 2)
                      and not {q["metadata"]["name"] for q in p} & set(same)
                      and p, timeout=300, what="the rollout to new pods")
    node.kubectl("rollout", "status", f"deployment/{APP}", "-n", NS, "--timeout=60s")
    assert rolled[0]["spec"]["containers"][0]["resources"]["requests"]["cpu"] == "10m"
    for pod in rolled:
        assert wait_for(lambda ip=pod["status"]["podIP"]: hello(ip), what="HTTP after the rollout") == "howdy, ann"

    # so does a new runtime image (the same image under a second name)
    retagged = node.images["runtime"].ref + "-next"
    node.ctr("images", "tag", "--force", node.images["runtime"].ref, retagged)
    before = {p["metadata"]["name"] for p in rolled}
    node.kubectl("patch", "wippyapp", APP, "-n", NS, "--type=merge", "-p",
                 json.dumps({"spec": {"image": retagged, "imagePullPolicy": "Never"}}))
    rolled = wait_for(lambda: all_ready(p := runtime_pods(node), 2) and not {q["metadata"]["name"] for q in p} & before
                      and p, timeout=300, what="the rollout to the new image")
    node.kubectl("rollout", "status", f"deployment/{APP}", "-n", NS, "--timeout=60s")
    assert {p["spec"]["containers"][0]["image"] for p in rolled} == {retagged}
    assert wait_for(lambda: hello(rolled[0]["status"]["podIP"]), what="HTTP from the new image") == "howdy, ann"
    assert wait_for(lambda: meshed(rolled), what="the new pods meshed, the old ones gone") is True

    # deleting the app removes what the operator made for it (the garbage collector runs here)
    node.kubectl("delete", "wippyapp", APP, "-n", NS)
    for kind in ("deployment", "serviceaccount", "role", "rolebinding", "poddisruptionbudget"):
        wait_for(lambda k=kind: node.kubectl("get", k, "-n", NS, "-l", f"app.kubernetes.io/instance={APP}",
                                             "-o", "name").stdout.strip() == "", what=f"{kind} gone")
    wait_for(lambda: runtime_pods(node) == [], what="the runtime pods gone")
    node.kubectl("delete", "namespace", NS, "--wait=false")
