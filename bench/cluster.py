"""Cluster figures, measured in one run on a real kube-apiserver + etcd (tests/harness), with
two runtime pods started as their Deployment starts them:

- messages/s of a one-way stream and ping-pong round-trip latency between two processes on two
  pods, beside the same between two processes on one pod;
- CONSISTENT registration and `system.lock` acquisition p50/p99 (each a Lease create);
- name lookup time (a read of the pod's cache).

    .venv/bin/python bench/cluster.py [--messages N] [--rounds N] [--against REV]

The EndpointSlices are written by the script (no controller-manager here), one per pod. With
--against, the same is measured a second time, in the same run and on the same API server, with
the pods running REV's runtime (`git archive` of its runtime-image/, first on the pods' path),
and each figure is printed beside REV's.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "kubernetes")]

BENCH = """
local logger, time, channel, system = require("logger"), require("time"), require("channel"), require("system")
local function now() return time.now():unix_nano() end

local function sink(n, reply_to)
  local inbox = process.inbox()
  for _ = 1, n do inbox:receive() end
  process.send(reply_to, "done", n)
end

local function echo()
  local inbox = process.inbox()
  while true do
    local m = inbox:receive()
    if m:topic() == "stop" then return end
    process.send(m:from(), "pong", m:payload():data())
  end
end

-- the script reads both pods' CPU time at each mark, while they idle
local function mark(at)
  logger.info("mark", {at = at})
  time.sleep("300ms")
end

local function pct(xs, p)
  table.sort(xs)
  return xs[math.max(1, math.ceil(#xs * p))]
end

local function stream(host, n)
  local pid = process.spawn("app:sink", host, n, process.pid())
  local inbox = process.inbox()
  local t0 = now()
  for i = 1, n do process.send(pid, "m", i) end
  inbox:receive()
  return n / ((now() - t0) / 1e9)
end

local function pingpong(host, n)
  local pid = process.spawn("app:echo", host)
  local inbox = process.inbox()
  process.send(pid, "ping", 0); inbox:receive()          -- warm
  local lat = {}
  local t0 = now()
  for i = 1, n do
    local t = now()
    process.send(pid, "ping", i)
    inbox:receive()
    lat[i] = (now() - t) / 1e3
  end
  local rate = n / ((now() - t0) / 1e9)
  process.send(pid, "stop")
  return rate, pct(lat, 0.5), pct(lat, 0.99)
end

local function main(me, peer, messages, rounds)
  if system.node.id() ~= me then process.inbox():receive() return end
  while system.cluster.size() < 2 do time.sleep("20ms") end
  local connected = false
  while not connected do
    for _, m in ipairs(system.cluster.members()) do
      if m.id == peer and m.meta.connected == "true" then connected = true end
    end
    time.sleep("20ms")
  end
  local out = {}
  for _, case in ipairs({{"local", "app:procs"}, {"remote", peer .. "@app:procs"}}) do
    local label, host = case[1], case[2]
    stream(host, 2000)   -- warm
    mark(label .. "_stream")
    out[label .. "_stream"] = stream(host, messages)
    mark(label .. "_stream_end")
    local rate, p50, p99 = pingpong(host, rounds)
    out[label .. "_roundtrips"], out[label .. "_rtt_p50_us"], out[label .. "_rtt_p99_us"] = rate, p50, p99
  end
  local reg, lock = {}, {}
  for i = 1, 200 do
    local t = now()
    local ok, err = process.registry.register("bench-" .. i, nil, process.registry.CONSISTENT)
    reg[i] = (now() - t) / 1e6
    if not ok then error(err) end
    t = now()
    ok, err = system.lock.acquire("bench-lock")
    lock[i] = (now() - t) / 1e6
    if not ok then error(err) end
    system.lock.release("bench-lock")
  end
  out.register_p50_ms, out.register_p99_ms = pct(reg, 0.5), pct(reg, 0.99)
  out.lock_p50_ms, out.lock_p99_ms = pct(lock, 0.5), pct(lock, 0.99)
  local n = 200000
  local t = now()
  for _ = 1, n do process.registry.lookup("bench-7") end
  out.lookup_ns = (now() - t) / n
  out.lookup_owner_ok = process.registry.lookup("bench-7") == process.pid()
  logger.info("bench", out)
  process.inbox():receive()
end
return {main = main, sink = sink, echo = echo}
"""


def measure(kube, tc, ns: str, args, env: dict | None = None) -> dict:
    """Two pods of the bench app in namespace `ns`; the figures the first logs."""
    from test_runtime_live import apply
    from wippy.kube.manifests import app_object

    started: list = []
    try:
        kube.kubectl("create", "namespace", ns)
        apply(kube, ns, [app_object(tc.APP)])
        cluster = tc.Cluster(kube, ns, started)
        proc = lambda m: ("process.lua", {"source": BENCH, "method": m,  # noqa: E731
                                          "modules": ["logger", "time", "channel", "system"]})
        tc.app_entries(kube, ns, {
            "app:procs": ("process.host", {"lifecycle": {"auto_start": True}, "limits": {"max_mailbox": 0, "slice_timeout": "10s"}}),
            "app:bench": proc("main"), "app:sink": proc("sink"), "app:echo": proc("echo"),
            "app:bench.service": tc.service("app:bench", input=["shop-a", "shop-b", args.messages, args.rounds]),
        })
        a = cluster.start("shop-a", env=env)
        b = cluster.start("shop-b", env=env)
        cpu = CpuAtMarks(a, [a, b])
        got = tc.wait_logged([a], "bench", timeout=600)[0]
        cpu.stop()
        for label in ("local", "remote"):
            spent = [end - start for start, end in zip(cpu.at[label + "_stream"], cpu.at[label + "_stream_end"])]
            got[label + "_stream_per_cpu_s"] = args.messages / max(spent)   # the busier pod bounds the rate
            got[label + "_stream_cpu_s"] = spent
        return got
    finally:
        for p in started:
            if p.proc and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")   # utime + stime


class CpuAtMarks:
    """The CPU time of each pod's process whenever the bench logs a mark (the pods idle then),
    so the stream's cost is measured apart from what else the shared machine runs."""

    def __init__(self, logger_pod, pods: list):
        self.pod, self.pods = logger_pod, pods
        self.at: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seen = 0
        while not self._stop.is_set():
            with self.pod._cond:
                marks = [ln["fields"]["at"] for ln in self.pod.lines if ln.get("msg") == "mark"]
            for at in marks[seen:]:
                self.at[at] = [cpu_seconds(p.proc.pid) for p in self.pods]
            seen = len(marks)
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def runtime_of(rev: str, into: str) -> str:
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "runtime-image"],
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return str(Path(into) / "runtime-image")


ROWS = [("one-way stream, messages/s", "{:,.0f}", "stream"), ("ping-pong, round trips/s", "{:,.0f}", "roundtrips"),
        ("round trip p50, us", "{:,.0f}", "rtt_p50_us"), ("round trip p99, us", "{:,.0f}", "rtt_p99_us")]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5_000)
    ap.add_argument("--against", metavar="REV", help="measure REV's runtime too, in the same run")
    args = ap.parse_args()

    from tests.harness.kube_cluster import KubeCluster, ensure_tools
    from tests.harness.operator_process import Operator, install_crds
    import test_cluster as tc

    kube = KubeCluster(ensure_tools(build=True), extra_users=[("alice", ["wippy-testers"])])
    kube.start()
    op = None
    runs: dict[str, dict] = {}
    try:
        install_crds(kube)
        op = Operator(kube, Path(tempfile.mkdtemp()) / "operator.log")
        op.start()
        runs["this tree"] = measure(kube, tc, "bench-cluster", args)
        if args.against:
            with tempfile.TemporaryDirectory() as tmp:
                runs[args.against] = measure(kube, tc, "bench-cluster-against", args,
                                             env={"PYTHONPATH": runtime_of(args.against, tmp)})
    finally:
        if op is not None:
            op.stop()
        kube.stop()

    for label, got in runs.items():
        print(f"\n{label}:")
        print(f"{'':38}{'two pods':>14}{'one pod':>14}")
        for title, fmt, key in ROWS:
            print(f"{title:38}{fmt.format(got['remote_' + key]):>14}{fmt.format(got['local_' + key]):>14}")
        print(f"{'one-way stream, messages per CPU s':38}{got['remote_stream_per_cpu_s']:>14,.0f}"
              f"{got['local_stream_per_cpu_s']:>14,.0f}   (of the busier pod)")
        print(f"CONSISTENT register: p50 {got['register_p50_ms']:.1f} ms, p99 {got['register_p99_ms']:.1f} ms")
        print(f"system.lock acquire: p50 {got['lock_p50_ms']:.1f} ms, p99 {got['lock_p99_ms']:.1f} ms")
        print(f"name lookup (local cache): {got['lookup_ns']:.0f} ns (owner right: {got['lookup_owner_ok']})")
        print(json.dumps({k: v for k, v in got.items() if not k.startswith("_")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
