"""Operator scale on a real API server: `kubectl apply` of N function entries (default 2,000)
with one runtime pod serving them, and the time until every entry is Ready (the operator has
recorded its revision and the pod reports that revision applied), with the operator's peak
memory. Beside it, in the same run, the time `kubectl apply` alone takes to store the objects.

    .venv/bin/python bench/operator_scale.py [--entries 2000]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "runtime-image")]

from tests.harness.kube_cluster import KubeCluster, ensure_tools  # noqa: E402
from wippy.kube.manifests import to_object  # noqa: E402
from wippy.registry.entry import Entry  # noqa: E402

NS, APP = "scale", "scale"
WIPPY = str(Path(sys.executable).with_name("wippy"))


def entries(n: int, tag: str) -> str:
    docs = [to_object(Entry(f"app:f{i}", "function.lua", {},
                            {"source": f'return function() return "{tag}{i}" end', "method": "main"}), APP)
            for i in range(n)]
    docs.append({"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": APP},
                 "spec": {"replicas": 1}})
    for d in docs:
        d["metadata"]["namespace"] = NS
    return yaml.safe_dump_all(docs)


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def ready_count(kube: KubeCluster) -> int:
    items = json.loads(kube.kubectl("get", "functionluas", "-n", NS, "-o", "json").stdout)["items"]
    return sum(1 for o in items for c in (o.get("status") or {}).get("conditions", [])
               if c["type"] == "Ready" and c["status"] == "True")


def main(n: int) -> None:
    ensure_tools(quiet=True)
    with KubeCluster() as kube, tempfile.TemporaryDirectory() as tmp:
        kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
                     "app.kubernetes.io/part-of=wippy")
        kube.kubectl("create", "namespace", NS)
        kube.kubectl("create", "namespace", NS + "-base")
        env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig)}

        # baseline: the API server storing the same objects, no operator, no pod
        base = entries(n, "b").replace(f"namespace: {NS}\n", f"namespace: {NS}-base\n")
        t = time.perf_counter()
        kube.kubectl("apply", "-f", "-", input=base, timeout=1800)
        apply_only = time.perf_counter() - t

        log = open(Path(tmp) / "operator.log", "w")
        operator = subprocess.Popen([sys.executable, "-m", "wippy_operator", "--metrics-port", "0"], env=env,
                                    stdout=log, stderr=subprocess.STDOUT)
        pod = subprocess.Popen([WIPPY, "-s", "run", "--kubernetes", "--app", APP, "--namespace", NS],
                               env={**env, "POD_NAME": "scale-runtime-0", "POD_NAMESPACE": NS},
                               stdout=subprocess.DEVNULL, stderr=log)
        try:
            time.sleep(3)   # both watching before the burst
            t = time.perf_counter()
            kube.kubectl("apply", "-f", "-", input=entries(n, "v"), timeout=1800)
            applied = time.perf_counter() - t
            done = 0
            while done < n:
                time.sleep(1)
                done = ready_count(kube)
                print(f"  {time.perf_counter() - t:6.1f}s  {done}/{n} Ready", file=sys.stderr)
            all_ready = time.perf_counter() - t
            rss = peak_rss_mb(operator.pid)
        finally:
            for p in (pod, operator):
                p.send_signal(signal.SIGINT)
                p.wait(timeout=30)
    print(f"{'figure':<44} {'value':>12}")
    print(f"{'-' * 44} {'-' * 12}")
    print(f"{'entries':<44} {n:>12,}")
    print(f"{'kubectl apply alone (baseline), s':<44} {apply_only:>12.1f}")
    print(f"{'kubectl apply with operator + pod, s':<44} {applied:>12.1f}")
    print(f"{'apply -> every entry Ready, s':<44} {all_ready:>12.1f}")
    print(f"{'operator peak memory (VmHWM), MB':<44} {rss:>12.1f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=2000)
    main(ap.parse_args().entries)
