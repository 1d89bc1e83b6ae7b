"""Operator scale on a real API server: `kubectl apply` of N function entries (2,000 and 10,000
by default) with one runtime pod serving them, and the time until every entry is Ready (the
operator has recorded its revision and the pod reports that revision applied), with the
operator's peak memory and the API requests per entry. Beside it, in the same run, the time
`kubectl apply` alone takes to store the objects. Each size runs in fresh namespaces, and the
baseline's objects are deleted before the operator starts, so it carries only what it measures.

    .venv/bin/python bench/operator_scale.py [--entries 2000,10000] [--compare /work/main] [--profile DIR] [--rounds R]

--compare runs the same sizes with the operator and pod of another checkout (for example an
earlier commit, `git archive`d) in the same run, beside this one; --profile records py-spy folded stacks of the operator and the pod during the burst.
--rounds repeats each measurement (baseline and operator, in turn): on a shared machine the load
drifts between a baseline and its operator run, so the target is judged on the median ratio.

Targets at 2,000: every entry Ready within 2x the baseline apply, operator memory <= 200 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "runtime-image")]

from tests.harness.kube_cluster import KubeCluster, KubectlError, ensure_tools, free_port  # noqa: E402
from wippy.kube.manifests import app_object, to_object  # noqa: E402
from wippy.registry.entry import Entry  # noqa: E402

APP = "scale"


def entries(n: int, tag: str, ns: str, app_last: bool = False) -> str:
    """The objects as `wippy manifests` orders them: the WippyApp first (--app-last: after its entries)."""
    docs = [to_object(Entry(f"app:f{i}", "function.lua", {},
                            {"source": f'return function() return "{tag}{i}" end', "method": "main"}), APP)
            for i in range(n)]
    app = app_object(APP, replicas=1)
    docs = docs + [app] if app_last else [app] + docs
    for d in docs:
        d["metadata"]["namespace"] = ns
    return yaml.safe_dump_all(docs)


def api_requests(kube: KubeCluster) -> dict[str, float]:
    """Requests the API server has answered so far (its apiserver_request_total), by verb and
    resource; and under "time: ..." the seconds they took (apiserver_request_duration_seconds_sum,
    watches left out: they last)."""
    text = kube.kubectl("get", "--raw", "/metrics").stdout
    out: dict[str, float] = {}
    for line in text.splitlines():
        total = line.startswith("apiserver_request_total{")
        if total or line.startswith("apiserver_request_duration_seconds_sum{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
            if not total and labels.get("verb") in ("WATCH", "CONNECT"):
                continue
            what = ("" if total else "time: ") + f"{labels.get('verb')} {labels.get('resource')}" + \
                (f"/{labels['subresource']}" if labels.get("subresource") else "") + \
                ("" if labels.get("code", "200").startswith("2") else f" ({labels.get('code')})")
            out[what] = out.get(what, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cluster_cpu(kube: KubeCluster) -> float:
    return sum(cpu_seconds(p.pid) for p in (kube._apiserver, kube._etcd) if p is not None)


def wait_ready(port: int, timeout: float = 180.0) -> None:
    """Until http://127.0.0.1:PORT/readyz answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing ready on port {port} after {timeout:g}s")
        time.sleep(0.2)


def ready_count(kube: KubeCluster, ns: str) -> int:
    items = json.loads(kube.kubectl("get", "functionluas", "-n", ns, "-o", "json").stdout)["items"]
    return sum(1 for o in items for c in (o.get("status") or {}).get("conditions", [])
               if c["type"] == "Ready" and c["status"] == "True")


def delete_all(kube: KubeCluster, ns: str, wait: bool) -> None:
    """One deletecollection per kind (kubectl delete --all deletes and waits for each object), again
    while it fails: one of 10,000 objects can outlast the API server's request timeout."""
    for plural in ("functionluas", "wippyapps"):
        for attempt in range(30):
            try:
                kube.kubectl("delete", "--raw", f"/apis/wippy.ai/v1alpha1/namespaces/{ns}/{plural}", timeout=3600)
                break
            except KubectlError as e:
                print(f"  deleting the {plural} of {ns} (attempt {attempt + 1}): {e.stderr.strip()}", file=sys.stderr)
                time.sleep(5)
    while wait and kube.kubectl("get", "functionluas", "-n", ns, "-o", "name").stdout.strip():
        time.sleep(1)


def measure(kube: KubeCluster, n: int, tmp: Path, code: Path, tag: str, profile: Path | None,
            app_last: bool) -> dict:
    """One size in fresh namespaces: the baseline apply (then its objects deleted, so that the
    operator does not carry them), then operator + pod (of the checkout `code`) + the same apply
    until all Ready."""
    python = str(code / ".venv" / "bin" / "python") if (code / ".venv").is_dir() else sys.executable
    ns, base_ns = f"scale-{tag}-{n}", f"scale-{tag}-{n}-base"
    kube.kubectl("create", "namespace", ns)
    kube.kubectl("create", "namespace", base_ns)
    # the checkout's own code, whichever virtualenv runs it
    env = {**os.environ, "KUBECONFIG": str(kube.kubeconfig),
           "PYTHONPATH": os.pathsep.join(str(code / d) for d in ("runtime-image", "operator"))}

    # baseline: the API server storing the same objects, no operator, no pod
    t, cluster = time.perf_counter(), cluster_cpu(kube)
    kube.kubectl("apply", "-f", "-", input=entries(n, "b", base_ns, app_last), timeout=3600)
    apply_only, apply_only_cpu = time.perf_counter() - t, cluster_cpu(kube) - cluster
    delete_all(kube, base_ns, wait=True)

    log = open(tmp / f"operator-{tag}-{n}.log", "w")
    operator_port, pod_port = free_port(), free_port()
    operator = subprocess.Popen([python, "-m", "wippy_operator", "--metrics-port", "0", "--namespace", ns,
                                 "--health-port", str(operator_port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    pod = subprocess.Popen([python, "-m", "wippy.cli.main", "-s", "run", "--kubernetes", "--app", APP, "--namespace", ns,
                            "--metrics", f"127.0.0.1:{pod_port}"],
                           env={**env, "POD_NAME": "scale-runtime-0", "POD_NAMESPACE": ns},
                           stdout=subprocess.DEVNULL, stderr=log)
    spies: list[subprocess.Popen] = []
    try:
        # both watching (their /readyz) before the burst, so that their start-up is not counted in it
        for port in (operator_port, pod_port):
            wait_ready(port)
        time.sleep(1)
        idle_rss = peak_rss_mb(operator.pid)
        # the burst only, not the start-up; the thread holding the GIL only (Python CPU, not waits)
        spies = [] if profile is None else [
            subprocess.Popen([str(Path(sys.executable).with_name("py-spy")), "record", "--nonblocking", "--gil", "-p", str(p.pid),
                              "--format", "raw", "-o", str(profile / f"{what}-{tag}-{n}.txt")],
                             stdout=subprocess.DEVNULL, stderr=log)
            for what, p in (("operator", operator), ("pod", pod))]
        requests_before = api_requests(kube)
        cpu_before = {"operator": cpu_seconds(operator.pid), "pod": cpu_seconds(pod.pid), "cluster": cluster_cpu(kube)}
        t = time.perf_counter()
        kube.kubectl("apply", "-f", "-", input=entries(n, "v", ns, app_last), timeout=3600)
        applied = time.perf_counter() - t
        done = 0
        while done < n:
            time.sleep(1)
            done = ready_count(kube, ns)
            print(f"  {n}: {time.perf_counter() - t:6.1f}s  {done}/{n} Ready", file=sys.stderr)
        all_ready = time.perf_counter() - t
        rss = peak_rss_mb(operator.pid)
        cpu = {"operator": cpu_seconds(operator.pid), "pod": cpu_seconds(pod.pid), "cluster": cluster_cpu(kube)}
        cpu = {k: v - cpu_before[k] for k, v in cpu.items()}
        after = api_requests(kube)
        by_kind = {k: (v - requests_before.get(k, 0.0)) / n for k, v in after.items() if not k.startswith("time: ")}
        took = {k[6:]: v - requests_before.get(k, 0.0) for k, v in after.items() if k.startswith("time: ")}
        requests = sum(by_kind.values()) * n
        print(f"  {tag} {n}: API requests per entry by verb and resource (and status when not 2xx): " + ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(by_kind.items(), key=lambda kv: -kv[1]) if v >= 0.01), file=sys.stderr)
        print(f"  {tag} {n}: API server seconds spent answering them (request durations summed): " + ", ".join(
            f"{k} {v:.1f}" for k, v in sorted(took.items(), key=lambda kv: -kv[1]) if v >= 0.05), file=sys.stderr)
    finally:
        for p in (*spies, pod, operator):
            p.send_signal(signal.SIGINT)
            p.wait(timeout=120)
    delete_all(kube, ns, wait=False)
    result = {"code": tag, "entries": n, "apply alone": apply_only, "apply with operator": applied, "all ready": all_ready,
            "rss": rss, "idle rss": idle_rss, "requests per entry": requests / n,
            "cluster cpu alone": apply_only_cpu, "cluster cpu": cpu["cluster"], "operator cpu": cpu["operator"],
            "pod cpu": cpu["pod"]}
    print(f"  {tag} {n}: " + ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                      for k, v in result.items()), file=sys.stderr)   # kept if a larger size fails
    return result


def main(sizes: list[int], compare: Path | None, profile: Path | None, app_last: bool, rounds: int) -> int:
    ensure_tools(quiet=True)
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    codes = ([("compared", compare)] if compare else []) + [("this", REPO)]
    with KubeCluster() as kube, tempfile.TemporaryDirectory() as tmp:
        kube.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l",
                     "app.kubernetes.io/part-of=wippy")
        results = [measure(kube, n, Path(tmp), code, tag + (f"-r{r}" if rounds > 1 else ""), profile, app_last)
                   | {"code": tag} for n in sizes for r in range(1, rounds + 1) for tag, code in codes]
    ok = True
    print(f"{'figure':<48}" + "".join(f"{r['code'] + ' ' + format(r['entries'], ','):>16}" for r in results))
    print("-" * (48 + 16 * len(results)))
    for label, key, fmt in [("kubectl apply alone (baseline), s", "apply alone", ".1f"),
                            ("kubectl apply with operator + pod, s", "apply with operator", ".1f"),
                            ("apply -> every entry Ready, s", "all ready", ".1f"),
                            ("operator peak memory (VmHWM), MB", "rss", ".1f"),
                            ("  of which before the apply, MB", "idle rss", ".1f"),
                            ("API requests per entry (all clients)", "requests per entry", ".1f"),
                            ("API server + etcd CPU, apply alone, s", "cluster cpu alone", ".1f"),
                            ("API server + etcd CPU, with operator, s", "cluster cpu", ".1f"),
                            ("operator CPU, s", "operator cpu", ".1f"),
                            ("runtime pod CPU, s", "pod cpu", ".1f")]:
        print(f"{label:<48}" + "".join(f"{r[key]:>16{fmt}}" for r in results))
    print(f"{'all Ready / apply alone':<48}" + "".join(f"{r['all ready'] / r['apply alone']:>15.2f}x" for r in results))
    for tag, _ in codes:
        for n in sizes:
            mine = [r for r in results if r["code"] == tag and r["entries"] == n]
            ratio = statistics.median(r["all ready"] / r["apply alone"] for r in mine)
            rss = max(r["rss"] for r in mine)
            print(f"{tag} {n:,}: median all Ready / apply alone {ratio:.2f}x over {len(mine)} round(s), "
                  f"operator peak {rss:.0f} MB")
            if n == 2000 and tag == "this":
                ok = ratio <= 2 and rss <= 200
                print(f"targets at 2,000 (all Ready within 2x apply alone, operator <= 200 MB): "
                      f"{'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", default="2000,10000", help="comma-separated sizes (default 2000,10000)")
    ap.add_argument("--compare", type=Path, help="another checkout measured in the same run")
    ap.add_argument("--profile", type=Path, help="directory for py-spy folded stacks of the operator and the pod (the burst only)")
    ap.add_argument("--app-last", action="store_true", help="apply the WippyApp after its entries (default: first, "
                    "as `wippy manifests` writes it); its entries wait in no app until it comes")
    ap.add_argument("--rounds", type=int, default=1, help="measurements per size and checkout, in turn (median ratio)")
    args = ap.parse_args()
    sys.exit(main([int(x) for x in args.entries.split(",")], args.compare, args.profile, args.app_last, args.rounds))
