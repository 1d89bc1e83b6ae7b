"""The one-node cluster of the `cluster` tests, timed: building (or checking) the images, the
node's start (control plane, containerd, kubelet, images imported, node Ready), `helm install
--wait` of the chart with the built images, `kubectl apply` of the http-hello app until all its
runtime pods are Ready, a rollout after a change of the app's resources, and the stop (host
restored). Needs root; builds what is missing first (see tests/harness/README.md).

    .venv/bin/python bench/real_pods.py [--replicas 2]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "runtime-image")]

from tests.harness.cluster_node import ClusterNode, build_images, ensure_node_tools  # noqa: E402

WIPPY = str(Path(sys.executable).with_name("wippy"))
NS, APP = "bench", "hello"


def ready_pods(node: ClusterNode) -> set[str]:
    pods = json.loads(node.kubectl("get", "pods", "-n", NS, "-l", f"app.kubernetes.io/instance={APP}",
                                   "-o", "json").stdout)["items"]
    return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))}


def wait(fn, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() > deadline:
            raise SystemExit("timed out")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    args = parser.parse_args()
    figures: list[tuple[str, float]] = []

    def timed(what: str, fn):
        t0 = time.monotonic()
        result = fn()
        figures.append((what, time.monotonic() - t0))
        print(f"{what}: {figures[-1][1]:.1f} s", flush=True)
        return result

    timed("node binaries (build or cache check)", ensure_node_tools)
    timed("images (build or cache check)", build_images)
    node = ClusterNode()
    timed("cluster start (to node Ready)", node.start)
    try:
        op, rt = node.images["operator"].ref.rsplit(":", 1), node.images["runtime"].ref.rsplit(":", 1)
        assert node.bin_dir is not None and node.kube is not None
        helm = [str(node.bin_dir / "helm"), "--kubeconfig", str(node.kube.kubeconfig)]
        timed("helm install --wait", lambda: subprocess.run(
            [*helm, "install", "wippy", str(REPO / "helm"), "-n", "wippy-system", "--create-namespace",
             "--set", f"image.repository={op[0]}", "--set", f"image.tag={op[1]}", "--set", "image.pullPolicy=Never",
             "--set", f"runtime.image.repository={rt[0]}", "--set", f"runtime.image.tag={rt[1]}",
             "--wait", "--timeout=5m"], check=True, capture_output=True))
        docs = list(yaml.safe_load_all(subprocess.run(
            [WIPPY, "manifests", str(REPO / "examples" / "http-hello"), "--app", APP, "-n", NS],
            check=True, capture_output=True, text=True).stdout))
        next(d for d in docs if d["kind"] == "WippyApp")["spec"].update(
            replicas=args.replicas, env=[{"name": "HTTP_ADDR", "value": "0.0.0.0:8080"}])
        node.kubectl("create", "namespace", NS)

        def apply() -> None:
            node.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
            wait(lambda: len(ready_pods(node)) == args.replicas)
        timed(f"kubectl apply -> {args.replicas} runtime pods Ready", apply)

        def rollout() -> None:
            old = ready_pods(node)
            node.kubectl("patch", "wippyapp", APP, "-n", NS, "--type=merge", "-p",
                         json.dumps({"spec": {"resources": {"requests": {"cpu": "10m"}}}}))
            wait(lambda: len(p := ready_pods(node)) == args.replicas and not p & old)
        timed(f"resources changed -> {args.replicas} new pods Ready", rollout)
    finally:
        timed("cluster stop (host restored)", node.stop)


if __name__ == "__main__":
    main()
