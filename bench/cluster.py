"""Cluster figures, measured in one run on a real kube-apiserver + etcd (tests/harness), with
two runtime pods started as their Deployment starts them:

- messages/s of a one-way stream and ping-pong round-trip latency between two processes on two
  pods, beside the same between two processes on one pod;
- CONSISTENT registration and `system.lock` acquisition p50/p99 (each a Lease create);
- name lookup time (a read of the pod's cache).

    .venv/bin/python bench/cluster.py [--messages N] [--rounds N]

The EndpointSlices are written by the script (no controller-manager here), one per pod.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
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
    out[label .. "_stream"] = stream(host, messages)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5_000)
    args = ap.parse_args()

    from tests.harness.kube_cluster import KubeCluster, ensure_tools
    from tests.harness.operator_process import Operator, install_crds
    import test_cluster as tc
    from test_runtime_live import apply
    from wippy.kube.manifests import app_object

    kube = KubeCluster(ensure_tools(build=True), extra_users=[("alice", ["wippy-testers"])])
    kube.start()
    started: list = []
    op = None
    try:
        install_crds(kube)
        op = Operator(kube, Path(tempfile.mkdtemp()) / "operator.log")
        op.start()
        ns = "bench-cluster"
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
        a = cluster.start("shop-a")
        cluster.start("shop-b")
        got = tc.wait_logged([a], "bench", timeout=600)[0]
    finally:
        for p in started:
            if p.proc and p.proc.poll() is None:
                p.proc.kill()
                p.proc.wait()
        if op is not None:
            op.stop()
        kube.stop()

    print(f"{'':38}{'two pods':>14}{'one pod':>14}")
    print(f"{'one-way stream, messages/s':38}{got['remote_stream']:>14,.0f}{got['local_stream']:>14,.0f}")
    print(f"{'ping-pong, round trips/s':38}{got['remote_roundtrips']:>14,.0f}{got['local_roundtrips']:>14,.0f}")
    print(f"{'round trip p50, us':38}{got['remote_rtt_p50_us']:>14,.0f}{got['local_rtt_p50_us']:>14,.0f}")
    print(f"{'round trip p99, us':38}{got['remote_rtt_p99_us']:>14,.0f}{got['local_rtt_p99_us']:>14,.0f}")
    print(f"CONSISTENT register: p50 {got['register_p50_ms']:.1f} ms, p99 {got['register_p99_ms']:.1f} ms")
    print(f"system.lock acquire: p50 {got['lock_p50_ms']:.1f} ms, p99 {got['lock_p99_ms']:.1f} ms")
    print(f"name lookup (local cache): {got['lookup_ns']:.0f} ns (owner right: {got['lookup_owner_ok']})")
    print(json.dumps({k: v for k, v in got.items() if not k.startswith("_")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
