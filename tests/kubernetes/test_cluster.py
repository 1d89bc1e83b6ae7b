"""One app, three pods: the cluster on a real API server.

The "pods" are runtime processes started as the Deployment starts them (`run --kubernetes`,
POD_NAME, POD_UID, the app's mesh key from the Secret the operator made), with only the rights
the operator grants the runtime. There is no controller-manager here, so the test writes the
EndpointSlices of the app's peers Service as the EndpointSlice controller would: one slice per
pod, because every pod of this test listens on this machine's address with its own mesh port (the controller
also splits endpoints whose named target port resolves to different numbers), and it removes a
pod's endpoint when the pod is gone.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import signal
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.kube_cluster import KubeCluster, free_port
from test_runtime_live import APP, Pod, apply, entry_cr, ns, operator, pods, projected  # noqa: F401 (fixtures)
from wippy.kube.manifests import app_object

HOST = {"app:procs": ("process.host", {"lifecycle": {"auto_start": True}})}

ECHO = """
local system = require("system")
local function main()
  local inbox = process.inbox()
  while true do
    local msg = inbox:receive()
    local t, p = msg:topic(), msg:payload():data()
    if t == "ping" then process.send(msg:from(), "pong", {n = p.n, node = system.node.id()})
    elseif t == "exit" then return "bye"
    elseif t == "crash" then error("crashed on purpose") end
  end
end
return {main = main}
"""

COMMON = """
local logger, time, channel, system = require("logger"), require("time"), require("channel"), require("system")
local function next_of(ch, d)
  local r = channel.select({ch:case_receive(), time.after(d or "10s"):case_receive()})
  if r.channel ~= ch then return nil end
  return r.value
end
local function wait_peers(n)
  while true do
    local up = 0
    for _, m in ipairs(system.cluster.members()) do
      if m.is_local or (m.meta and m.meta.connected == "true") then up = up + 1 end
    end
    if up >= n then return end
    time.sleep("20ms")
  end
end
"""

SCENARIO = COMMON + """
local function main(me, peer)
  if system.node.id() ~= me then process.inbox():receive() return end
  wait_peers(3)
  local ids = {}
  for _, m in ipairs(system.cluster.members()) do ids[#ids + 1] = m.id end
  logger.info("members", {ids = table.concat(ids, ","), size = system.cluster.size(), addr = system.node.addr()})
  while system.cluster.leader() == "" do time.sleep("20ms") end
  local stats = system.raft.stats()
  logger.info("raft", {leader = system.cluster.leader(), role = system.raft.role(), node_role = system.node.role(),
                       is_leader = system.raft.is_leader(), term = system.raft.term(), backend = stats.backend,
                       lease = stats.lease, index = system.raft.commit_index()})
  local host = peer .. "@app:procs"
  local events = process.events()
  local pid = process.spawn_monitored("app:echo", host)
  process.send(pid, "ping", {n = 7})
  local msg = next_of(process.inbox())
  local pong = msg and msg:payload():data()
  process.send(pid, "exit")
  local ev = next_of(events)
  logger.info("normal", {pid = pid, pong_node = pong and pong.node, pong_n = pong and pong.n, kind = ev and ev.kind,
                         from = ev and ev.from, err = ev and ev.result.error and tostring(ev.result.error) or "none"})
  process.set_options({trap_links = true})
  local pid2 = process.spawn_linked("app:echo", host)
  process.send(pid2, "crash")
  ev = next_of(events)
  logger.info("abnormal", {kind = ev and ev.kind, same = ev and ev.from == pid2, err = ev and tostring(ev.result.error)})
  logger.info("exec", {value = process.exec("app:square", host, 9)})
  local pid4 = process.spawn_linked_monitored("app:echo", host)
  logger.info("ready_for_kill", {pid = pid4})
  local got = {}
  for _ = 1, 2 do
    ev = next_of(events, "60s")
    if ev then got[#got + 1] = ev.kind .. "=" .. tostring(ev.result.error) end
  end
  table.sort(got)
  logger.info("node_down", {events = table.concat(got, " | ")})
  process.inbox():receive()
end
return {main = main}
"""

CONTEST = COMMON + """
local function contender(i)
  local ok, err = process.registry.register("the-one", nil, process.registry.CONSISTENT)
  if ok then
    logger.info("name_won", {pid = process.pid()})
    time.sleep("3s")
    logger.info("name_owner_exits", {pid = process.pid(), at = time.now():unix_milli()})
    return
  end
  logger.info("name_lost", {kind = err:kind(), err = tostring(err), owner = (err:details() or {}).owner})
end

local function watcher()
  local seen
  while true do
    local pid = process.registry.lookup("the-one")
    if pid and not seen then seen = pid; logger.info("name_seen", {owner = pid}) end
    if seen and not pid then logger.info("name_gone", {at = time.now():unix_milli()}) return end
    time.sleep("5ms")
  end
end

local function main()
  wait_peers(3)
  process.spawn("app:watcher", "app:procs")
  for i = 1, 10 do process.spawn("app:contender", "app:procs", i) end
  process.inbox():receive()
end
return {main = main, contender = contender, watcher = watcher}
"""

LOCKS = COMMON + """
local sql = require("sql")
local function worker(i)
  local db = assert(sql.get("app:db"))
  local done = 0
  while done < 4 do
    local ok, err = system.lock.acquire("counter")
    if ok then
      local t0 = time.now():unix_nano()
      local rows = assert(db:query("SELECT n FROM counter"))   -- read, wait, write: a second holder would lose updates
      time.sleep("15ms")
      assert(db:execute("UPDATE counter SET n = ?", {rows[1].n + 1}))
      local t1 = time.now():unix_nano()
      logger.info("held", {t0 = tostring(t0), t1 = tostring(t1), pid = process.pid()})
      system.lock.release("counter")
      done = done + 1
    elseif err:kind() ~= "AlreadyExists" then
      logger.info("lock_error", {err = tostring(err)})
    end
    time.sleep("3ms")
  end
  logger.info("lock_worker_done", {pid = process.pid()})
end

local function main()
  wait_peers(3)
  for i = 1, 3 do process.spawn("app:lock_worker", "app:procs", i) end
  process.inbox():receive()
end
return {main = main, worker = worker}
"""

SINGLE = COMMON + """
local function main()
  logger.info("singleton_running", {node = system.node.id(), leader = system.cluster.leader()})
  process.inbox():receive()
end
return {main = main}
"""


def crs(entries: dict) -> list[dict]:
    return [entry_cr(eid, kind, data) for eid, (kind, data) in entries.items()]


def lua_process(source: str, method: str = "main", modules=("logger", "time", "channel", "system")) -> tuple:
    return "process.lua", {"source": source, "method": method, "modules": list(modules)}


def service(process_id: str, *, input: list | None = None, **extra) -> tuple:
    return "process.service", {"process": process_id, "host": "app:procs", "input": input or [],
                               "lifecycle": {"auto_start": True}, **extra}


def host_ip() -> str:
    """A non-loopback address of this machine (an EndpointSlice may not hold a loopback one)."""
    for target in ("192.0.2.1", "10.255.255.255", "8.8.8.8"):
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((target, 1))
                ip = s.getsockname()[0]
        except OSError:
            continue
        if not ipaddress.ip_address(ip).is_loopback:
            return ip
    pytest.skip("no non-loopback IPv4 address on this machine for the pods' endpoints")


class Cluster:
    """The app's pods and the EndpointSlices the controller would write for them."""

    def __init__(self, kube: KubeCluster, namespace: str, pods: list[Pod]):
        self.kube, self.ns, self.pods = kube, namespace, pods
        self.key = self._key()
        self._grant_runtime_rights()
        self.by_name: dict[str, Pod] = {}
        self.ip = host_ip()

    def _key(self) -> str:
        deadline = time.monotonic() + 30
        while True:
            got = self.kube.kubectl("get", "secret", f"{APP}-mesh", "-n", self.ns, "-o", "json", check=False)
            if got.returncode == 0:
                return base64.b64decode(json.loads(got.stdout)["data"]["key"]).decode()
            assert time.monotonic() < deadline, "the operator made no mesh Secret"
            time.sleep(0.1)

    def _grant_runtime_rights(self) -> None:
        from wippy_operator.children import role_rules
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "runtime"}, "rules": role_rules(APP)}
        binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "runtime"},
                   "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runtime"},
                   "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}
        apply(self.kube, self.ns, [role, binding])

    def start(self, name: str, key: str | None = None, env: dict | None = None) -> Pod:
        port, uid = free_port(), str(uuid.uuid4())
        pod = Pod(self.kube, self.ns, name, kubeconfig=self.kube.kubeconfig_for("alice"),
                  env={"POD_UID": uid, "POD_IP": self.ip, "WIPPY_MESH_PORT": str(port),
                       "WIPPY_CLUSTER_KEY": key or self.key, **(env or {})}).start()
        pod.port, pod.uid = port, uid
        self.pods.append(pod)
        self.by_name[name] = pod
        self.write_endpoint(pod)
        return pod

    def write_endpoint(self, pod: Pod) -> None:
        apply(self.kube, self.ns, [{
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{APP}-peers-{pod.name}",
                         "labels": {"kubernetes.io/service-name": f"{APP}-peers",
                                    "endpointslice.kubernetes.io/managed-by": "tests.wippy.ai"}},
            "addressType": "IPv4",
            "ports": [{"name": "mesh", "port": pod.port, "protocol": "TCP"}],
            "endpoints": [{"addresses": [self.ip], "conditions": {"ready": True},
                           "targetRef": {"kind": "Pod", "name": pod.name, "uid": pod.uid, "namespace": self.ns}}]}])

    def remove_endpoint(self, pod: Pod) -> None:
        self.kube.kubectl("delete", "endpointslice", f"{APP}-peers-{pod.name}", "-n", self.ns)

    def kill(self, pod: Pod) -> None:
        """SIGKILL, then what the control plane does: the pod object goes, and with it its endpoint."""
        pod.proc.send_signal(signal.SIGKILL)
        pod.proc.wait()
        self.remove_endpoint(pod)


def app_entries(kube: KubeCluster, ns: str, entries: dict) -> None:
    objs = crs({**HOST, **entries})
    apply(kube, ns, objs)
    deadline = time.monotonic() + 30
    while projected(kube, ns) < len(objs):
        assert time.monotonic() < deadline, "the app's entries were not projected"
        time.sleep(0.05)


def logged(pod: Pod, msg: str) -> list[dict]:
    with pod._cond:
        return [dict(ln.get("fields") or {}, _time=ln.get("time")) for ln in pod.lines if ln.get("msg") == msg]


def wait_logged(pods: list[Pod], msg: str, count: int = 1, timeout: float = 60,
                pred: Callable[[dict], bool] = lambda f: True) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        got = [dict(f, _pod=p.name) for p in pods for f in logged(p, msg) if pred(f)]
        if len(got) >= count:
            return got
        if time.monotonic() > deadline:
            tail = "".join(ln for p in pods for ln in p.raw[-15:])
            raise AssertionError(f"{msg!r} logged {len(got)} times, not {count}, within {timeout}s:\n{tail}")
        time.sleep(0.05)


@pytest.fixture
def cluster(kube: KubeCluster, ns: str, pods) -> Cluster:
    return Cluster(kube, ns, pods)


def test_a_process_on_one_pod_spawns_sends_monitors_and_links_on_another(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {
        "app:echo": lua_process(ECHO, modules=("system",)),
        "app:square": ("process.lua", {"source": "return {main = function(x) return x * x end}", "method": "main"}),
        "app:scenario": lua_process(SCENARIO),
        "app:scenario.service": service("app:scenario", input=["shop-a", "shop-b"]),
    })
    a, b, c = (cluster.start(n) for n in ("shop-a", "shop-b", "shop-c"))

    members = wait_logged([a], "members")[0]
    assert members["ids"].split(",")[0] == "shop-a" and set(members["ids"].split(",")) == {"shop-a", "shop-b", "shop-c"}
    assert members["size"] == 3 and members["addr"] == f"{cluster.ip}:{a.port}"
    raft = wait_logged([a], "raft")[0]
    assert raft["leader"] in {"shop-a", "shop-b", "shop-c"} and raft["backend"] == "kubernetes-lease"
    assert raft["role"] == raft["node_role"] == ("leader" if raft["leader"] == "shop-a" else "voter")
    assert raft["is_leader"] is (raft["leader"] == "shop-a") and raft["lease"] == f"{ns}/{APP}-leader"
    assert raft["term"] >= 0 and raft["index"] > 0
    normal = wait_logged([a], "normal")[0]
    assert normal["pid"].startswith("{shop-b@app:procs|")
    assert (normal["pong_node"], normal["pong_n"]) == ("shop-b", 7)
    assert (normal["kind"], normal["from"], normal["err"]) == ("pid.exit", normal["pid"], "none")
    abnormal = wait_logged([a], "abnormal")[0]
    assert abnormal["kind"] == "pid.link.down" and abnormal["same"] is True
    assert "crashed on purpose" in abnormal["err"]
    assert wait_logged([a], "exec")[0]["value"] == 81

    wait_logged([a], "ready_for_kill")
    cluster.kill(b)
    down = wait_logged([a], "node_down", timeout=30)[0]["events"]
    parts = down.split(" | ")
    assert [p.split("=")[0] for p in parts] == ["pid.exit", "pid.link.down"], down
    assert all("node down: shop-b" in p for p in parts), down
    assert a.proc.poll() is None and c.proc.poll() is None


def test_thirty_consistent_registrations_of_one_name_have_one_winner(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {
        "app:contest": lua_process(CONTEST),
        "app:contender": lua_process(CONTEST, "contender"),
        "app:watcher": lua_process(CONTEST, "watcher"),
        "app:contest.service": service("app:contest"),
    })
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    won = wait_logged(pods, "name_won")
    lost = wait_logged(pods, "name_lost", count=29)
    time.sleep(0.5)
    assert len(logged_all(pods, "name_won")) == 1 and len(logged_all(pods, "name_lost")) == 29
    owner = won[0]["pid"]
    assert {f["kind"] for f in lost} == {"AlreadyExists"} and {f["owner"] for f in lost} == {owner}
    seen = wait_logged(pods, "name_seen", count=3)
    assert {f["owner"] for f in seen} == {owner}        # every pod resolves it from its cache
    exits = wait_logged(pods, "name_owner_exits", timeout=30)[0]
    gone = wait_logged(pods, "name_gone", count=3, timeout=30)
    lag = max(f["at"] for f in gone) - exits["at"]
    print(f"name free on every pod {lag} ms after its owner exited")
    assert lag < 5000


def logged_all(pods: list[Pod], msg: str) -> list[dict]:
    return [f for p in pods for f in logged(p, msg)]


def test_locks_under_contention_never_have_two_holders(kube, ns, cluster: Cluster, tmp_path) -> None:
    import sqlite3
    counter = tmp_path / "counter.db"
    with sqlite3.connect(counter) as db:      # a real database every pod writes: the shared counter
        db.execute("CREATE TABLE counter (n INTEGER)")
        db.execute("INSERT INTO counter VALUES (0)")
    mods = ("logger", "time", "channel", "system", "sql")
    app_entries(kube, ns, {
        "app:db": ("db.sql.sqlite", {"kind": "db.sql.sqlite", "file": str(counter)}),
        "app:locks": lua_process(LOCKS, modules=mods),
        "app:lock_worker": lua_process(LOCKS, "worker", modules=mods),
        "app:locks.service": service("app:locks"),
    })
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    wait_logged(pods, "lock_worker_done", count=9, timeout=120)
    held = sorted((int(f["t0"]), int(f["t1"]), f["_pod"]) for f in logged_all_with_pod(pods, "held"))
    assert len(held) == 36 and len({h[2] for h in held}) == 3
    for (_s0, e0, _), (s1, _, _) in zip(held, held[1:]):
        assert s1 >= e0, f"two holders at once: {held}"
    assert not logged_all(pods, "lock_error")
    with sqlite3.connect(counter) as db:
        assert db.execute("SELECT n FROM counter").fetchone()[0] == 36    # no update lost


def logged_all_with_pod(pods: list[Pod], msg: str) -> list[dict]:
    return [dict(f, _pod=p.name) for p in pods for f in logged(p, msg)]


def test_a_singleton_service_runs_on_one_pod_and_moves_when_it_is_killed(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {
        "app:single": lua_process(SINGLE),
        "app:single.service": service("app:single", placement="singleton"),
    })
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    first = wait_logged(pods, "singleton_running")[0]
    time.sleep(3)
    assert len(logged_all(pods, "singleton_running")) == 1
    holder = cluster.by_name[first["_pod"]]
    t0 = time.monotonic()
    cluster.kill(holder)
    rest = [p for p in pods if p is not holder]
    second = wait_logged(rest, "singleton_running", timeout=60)[0]
    print(f"singleton moved from {holder.name} to {second['_pod']} in {time.monotonic() - t0:.2f}s")
    time.sleep(2)
    assert len(logged_all(rest, "singleton_running")) == 1


STALL = COMMON + """
local function holder()
  local ok
  repeat ok = process.registry.register("held", nil, process.registry.CONSISTENT)
    if not ok then time.sleep("100ms") end
  until ok
  repeat ok = system.lock.acquire("held-lock"); if not ok then time.sleep("100ms") end until ok
  logger.info("holder_running", {node = system.node.id(), pid = process.pid()})
  local ev = process.events():receive()
  logger.info("holder_event", {node = system.node.id(), kind = ev.kind, reason = tostring(ev.reason)})
end

local function watcher()
  local me = system.node.id()
  local owner
  repeat owner = process.registry.lookup("held"); if not owner then time.sleep("20ms") end until owner
  local events = process.events()
  if not owner:find("{" .. me .. "@", 1, true) then process.monitor(owner) end
  logger.info("watch_owner", {node = me, owner = owner})
  while true do
    local r = channel.select({events:case_receive(), time.after("20ms"):case_receive()})
    if r.channel == events and r.value.kind == "pid.exit" then
      logger.info("watch_down", {node = me, err = tostring(r.value.result.error)})
    end
    local now = process.registry.lookup("held")
    if now ~= owner then
      owner = now
      logger.info("watch_moved", {node = me, owner = tostring(now)})
    end
  end
end
return {holder = holder, watcher = watcher}
"""


def test_a_stalled_pod_loses_its_connections_names_locks_and_singleton(kube, ns, cluster: Cluster) -> None:
    """SIGSTOP a pod (its process stalls, its TCP connections stay open, its endpoint stays): the
    others take its connections as lost after the mesh's silence, then, once its node Lease has not
    been renewed for the Lease duration, release its name and lock and run its singleton. Resumed,
    it learns that what it held is elsewhere, and stops its copy of the singleton."""
    app_entries(kube, ns, {
        "app:holder": lua_process(STALL, "holder"),
        "app:watcher": lua_process(STALL, "watcher"),
        "app:holder.service": service("app:holder", placement="singleton"),
        "app:watcher.service": service("app:watcher"),
    })
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    first = wait_logged(pods, "holder_running", timeout=60)[0]
    stalled = cluster.by_name[first["_pod"]]
    rest = [p for p in pods if p is not stalled]
    wait_logged(pods, "watch_owner", count=3, pred=lambda f: f["owner"] == first["pid"])
    time.sleep(1)
    t0 = time.monotonic()
    stalled.proc.send_signal(signal.SIGSTOP)
    try:
        down = wait_logged(rest, "watch_down", count=2, timeout=60)
        t_down = time.monotonic() - t0
        assert all(f"node down: {stalled.name}" in f["err"] for f in down), down
        second = wait_logged(rest, "holder_running", timeout=60)[0]
        t_moved = time.monotonic() - t0
        assert second["pid"] != first["pid"] and second["node"] != stalled.name
        wait_logged(rest, "watch_moved", count=2, timeout=30, pred=lambda f: f["owner"] == second["pid"])
        print(f"stalled pod: its connections lost after {t_down:.1f}s, its singleton, name and lock "
              f"on {second['node']} after {t_moved:.1f}s")
    finally:
        stalled.proc.send_signal(signal.SIGCONT)
    # resumed: it sees the name elsewhere, and its singleton copy stops (the Lease is the authority)
    wait_logged([stalled], "watch_moved", timeout=30, pred=lambda f: f["owner"] == second["pid"])
    deadline = time.monotonic() + 30
    while not any("stops on this node" in ln for ln in stalled.raw):
        assert time.monotonic() < deadline, "".join(stalled.raw[-30:])
        time.sleep(0.1)
    time.sleep(2)
    assert len(logged_all(rest, "holder_running")) == 1
    assert stalled.proc.poll() is None
    # every Lease of the app (leader, node, singleton, name, lock) is owned by the app: it goes with it
    app_uid = json.loads(kube.kubectl("get", "wippyapp", APP, "-n", ns, "-o", "json").stdout)["metadata"]["uid"]
    leases = json.loads(kube.kubectl("get", "leases", "-n", ns, "-l", f"wippy.ai/app={APP}", "-o", "json").stdout)
    kinds = {x["metadata"]["labels"].get("wippy.ai/cluster-object", "leader") for x in leases["items"]}
    assert kinds == {"leader", "node", "singleton", "name", "lock"}, kinds
    for x in leases["items"]:
        assert [(o["kind"], o["uid"]) for o in x["metadata"].get("ownerReferences", [])] == [("WippyApp", app_uid)], \
            (x["metadata"], [ln for p in pods for ln in p.raw if "entries map" in ln])


def test_pods_without_the_apps_key_cannot_join(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {
        "app:scenario": lua_process(SCENARIO),
        "app:scenario.service": service("app:scenario", input=["shop-a", "shop-b"]),
    })
    a = cluster.start("shop-a")
    cluster.start("shop-b", key="another apps key")
    cluster.start("shop-c")
    deadline = time.monotonic() + 20
    while not any("does not hold this app's mesh key" in ln for ln in a.raw):
        assert time.monotonic() < deadline, "".join(a.raw[-20:])
        time.sleep(0.1)
    time.sleep(1)
    assert not logged(a, "members")     # it waits for three connected nodes: shop-b never is one


DURING = COMMON + """
local function main(me, peer)
  wait_peers(3)
  if system.node.id() ~= me then
    local seen
    while true do
      local pid = process.registry.lookup("before")
      if pid and not seen then seen = pid; logger.info("seen_before", {owner = pid}) end
      if seen and pid ~= seen then logger.info("lost_before", {now = tostring(pid)}) end
      time.sleep("20ms")
    end
  end
  local ok, err = process.registry.register("before", nil, process.registry.CONSISTENT)
  logger.info("registered_before", {ok = ok == true, err = tostring(err), pid = process.pid()})
  local pid = assert(process.spawn("app:echo", peer .. "@app:procs"))
  local inbox = process.inbox()
  local pongs, misses, last = 0, 0, time.now():unix_milli()
  while true do
    process.send(pid, "ping", {n = pongs})
    local r = channel.select({inbox:case_receive(), time.after("1s"):case_receive()})
    if r.channel == inbox then pongs = pongs + 1 else misses = misses + 1 end
    if time.now():unix_milli() - last >= 200 then
      last = time.now():unix_milli()
      logger.info("tick", {pongs = pongs, misses = misses, at = last})
    end
    time.sleep("5ms")
  end
end
return {main = main}
"""

AFTER = COMMON + """
local function main()
  local ok, err
  repeat ok, err = process.registry.register("after", nil, process.registry.CONSISTENT)
    if not ok and err:kind() ~= "AlreadyExists" then time.sleep("100ms") end
  until ok or err:kind() == "AlreadyExists"
  logger.info("after_registered", {won = ok == true, owner = ok and process.pid() or (err:details() or {}).owner})
  repeat ok, err = system.lock.acquire("after-lock"); if not ok then time.sleep("20ms") end until ok
  system.lock.release("after-lock")
  logger.info("after_locked", {pid = process.pid()})
  process.inbox():receive()
end
return {main = main}
"""


def test_names_locks_and_messages_recover_from_an_apiserver_restart(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {
        "app:echo": lua_process(ECHO, modules=("system",)),
        "app:during": lua_process(DURING),
        "app:during.service": service("app:during", input=["shop-a", "shop-b"]),
    })
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    a = pods[0]
    reg = wait_logged([a], "registered_before")[0]
    assert reg["ok"] is True
    wait_logged(pods[1:], "seen_before", count=2)
    wait_logged([a], "tick", pred=lambda f: f["pongs"] > 5)

    down_at = time.time() * 1000
    kube.stop_apiserver()
    time.sleep(3)
    ticks = [f for f in logged(a, "tick") if f["at"] > down_at + 500]
    kube.start_apiserver()
    assert ticks and ticks[-1]["pongs"] > ticks[0]["pongs"], "messages stopped while the API server was down"

    apply(kube, ns, crs({"app:after": lua_process(AFTER), "app:after.service": service("app:after")}))
    after = wait_logged(pods, "after_registered", count=3, timeout=60)
    assert sum(1 for f in after if f["won"]) == 1 and len({f["owner"] for f in after}) == 1
    wait_logged(pods, "after_locked", count=3, timeout=60)
    assert not logged_all(pods, "lost_before")           # the acknowledged name survived
    assert [p.name for p in pods if p.proc.poll() is not None] == []
    last = logged(a, "tick")[-1]
    assert last["misses"] == 0, last


GROUPS = COMMON + """
local pg = require("pg")
local function member()
  local g = assert(pg.open("app:pg"))
  assert(g:join("workers"))
  local ch = process.listen("task")
  local task = ch:receive()
  logger.info("got_task", {id = task.id, node = system.node.id()})
  process.inbox():receive()
end

local function main(me)
  process.spawn("app:member", "app:procs")
  if system.node.id() ~= me then process.inbox():receive() return end
  local g = assert(pg.open("app:pg"))
  while #g:get_members("workers") < 3 do time.sleep("20ms") end
  logger.info("broadcast", {members = #g:get_members("workers"), locals = #g:get_local_members("workers")})
  assert(g:broadcast("workers", "task", {id = 42}))
  process.inbox():receive()
end
return {main = main, member = member}
"""


def test_a_pg_broadcast_reaches_every_member_on_every_pod(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {
        "app:pg": ("pg.scope", {}),
        "app:groups": lua_process(GROUPS, modules=("logger", "time", "channel", "system", "pg")),
        "app:member": lua_process(GROUPS, "member", modules=("logger", "time", "channel", "system", "pg")),
        "app:groups.service": service("app:groups", input=["shop-a"]),
    })
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    sent = wait_logged(pods[:1], "broadcast")[0]
    assert (sent["members"], sent["locals"]) == (3, 1)
    got = wait_logged(pods, "got_task", count=3)
    assert sorted((f["_pod"], f["node"], f["id"]) for f in got) == [
        ("shop-a", "shop-a", 42), ("shop-b", "shop-b", 42), ("shop-c", "shop-c", 42)]


STRONG = COMMON + """
local function main(me)
  wait_peers(3)
  local node = system.node.id()
  local inbox = process.inbox()
  if node ~= me then
    assert(process.registry.register("checker-" .. node, nil, process.registry.EVENTUAL))
    while true do
      local m = inbox:receive()
      process.send(m:from(), "seen", {node = node, owner = process.registry.lookup(m:payload():data()) or "none"})
    end
  end
  local checkers = {}
  for _, m in ipairs(system.cluster.members()) do
    if not m.is_local then
      local pid
      repeat pid = process.registry.lookup("checker-" .. m.id); if not pid then time.sleep("10ms") end until pid
      checkers[#checkers + 1] = pid
    end
  end
  local ok, err = process.registry.register("control", nil, process.registry.STRONG)
  for _, pid in ipairs(checkers) do process.send(pid, "check", "control") end   -- at once: no waiting for watches
  local seen = {}
  for i = 1, #checkers do
    local v = inbox:receive():payload():data()
    seen[#seen + 1] = v.node .. "=" .. v.owner
  end
  table.sort(seen)
  logger.info("strong", {ok = ok == true, err = tostring(err), me = process.pid(), seen = table.concat(seen, ",")})
  inbox:receive()
end
return {main = main}
"""


def test_a_strong_name_is_known_to_every_pod_once_registered(kube, ns, cluster: Cluster) -> None:
    app_entries(kube, ns, {"app:strong": lua_process(STRONG), "app:strong.service": service("app:strong", input=["shop-a"])})
    pods = [cluster.start(n) for n in ("shop-a", "shop-b", "shop-c")]
    got = wait_logged(pods[:1], "strong")[0]
    assert got["ok"] is True, got
    assert got["seen"] == f"shop-b={got['me']},shop-c={got['me']}"


SQUAT = COMMON + """
local function main(me)
  if system.node.id() ~= me then
    local owner
    repeat owner = process.registry.lookup("squatted"); if not owner then time.sleep("20ms") end until owner
    logger.info("squat_seen", {owner = owner})
    process.inbox():receive()
    return
  end
  local before = process.registry.lookup("squatted")
  local ok, err = process.registry.register("squatted", nil, process.registry.CONSISTENT)
  local lok, lerr = system.lock.acquire("squatted-lock")
  local fok, ferr = process.registry.register("blog-owned", nil, process.registry.CONSISTENT)
  logger.info("squat", {me = process.pid(), before = tostring(before), ok = ok == true, err = tostring(err),
                        lock = lok == true, lock_err = tostring(lerr), foreign_ok = fok == true,
                        foreign_kind = ferr and ferr:kind() or "", foreign_err = tostring(ferr),
                        foreign_lookup = tostring(process.registry.lookup("blog-owned"))})
  process.inbox():receive()
end
return {main = main}
"""


def test_leases_someone_else_wrote_under_the_apps_names_neither_hold_nor_block(kube, ns, cluster: Cluster) -> None:
    """Anyone who may create Leases in the namespace can create one under the name a name, lock,
    singleton or the leadership would have. Without the app's label it holds nothing: lookups do
    not see its holder, and the app removes it and takes the name. Labelled with another app, it
    is left alone, and registering the name says so."""
    from wippy.cluster.names import object_name
    from wippy.cluster.singletons import lease_name
    app_entries(kube, ns, {
        "app:squat": lua_process(SQUAT),
        "app:squat.service": service("app:squat", input=["shop-a"]),
        "app:single": lua_process(SINGLE),
        "app:single.service": service("app:single", placement="singleton"),
    })
    squatted = {object_name(APP, "name", "squatted"), object_name(APP, "lock", "squatted-lock"),
                lease_name(APP, "app:single.service"), f"{APP}-leader"}
    for name in sorted(squatted):
        kube.kubectl("create", "-n", ns, "-f", "-", input=json.dumps({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name},
            "spec": {"holderIdentity": "{shop-x@app:procs|0x00001}", "leaseDurationSeconds": 3600}}))
    kube.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(_lease(object_name(APP, "name", "blog-owned"), "blog")))
    a, b = cluster.start("shop-a"), cluster.start("shop-b")

    got = wait_logged([a], "squat")[0]
    assert got["before"] == "nil", got     # the squatter's holder is never taken as the owner
    assert got["ok"] is True and got["lock"] is True, got
    assert got["foreign_ok"] is False and got["foreign_kind"] == "Unavailable", got
    assert "belongs to another app (blog)" in got["foreign_err"] and got["foreign_lookup"] == "nil", got
    assert wait_logged([b], "squat_seen")[0]["owner"] == got["me"]
    wait_logged([a, b], "singleton_running", timeout=60)
    raft_holder = None
    deadline = time.monotonic() + 30
    while raft_holder is None:   # the leadership too is taken from the squatter
        out = kube.kubectl("get", "lease", f"{APP}-leader", "-n", ns, "-o", "json", check=False)
        lease = json.loads(out.stdout) if out.returncode == 0 else {"metadata": {}}   # (removed, not made yet)
        if (lease["metadata"].get("labels") or {}).get("wippy.ai/app") == APP:
            raft_holder = lease["spec"]["holderIdentity"]
        assert time.monotonic() < deadline, lease
        time.sleep(0.2)
    assert raft_holder.split("_")[0] in {"shop-a", "shop-b"}
    for name in squatted - {f"{APP}-leader"}:
        lease = json.loads(kube.kubectl("get", "lease", name, "-n", ns, "-o", "json").stdout)
        assert lease["metadata"]["labels"]["wippy.ai/app"] == APP, lease
    name_lease = json.loads(kube.kubectl("get", "lease", object_name(APP, "name", "squatted"), "-n", ns,
                                         "-o", "json").stdout)
    assert name_lease["spec"]["holderIdentity"] == got["me"]
    blog = json.loads(kube.kubectl("get", "lease", object_name(APP, "name", "blog-owned"), "-n", ns, "-o", "json").stdout)
    assert blog["metadata"]["labels"]["wippy.ai/app"] == "blog"    # left alone


CHART = Path(__file__).resolve().parents[2] / "helm"


def _lease(name: str, app: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "labels": {"wippy.ai/app": app}}, "spec": {"holderIdentity": "x"}}


def test_one_apps_runtime_cannot_write_another_apps_leases(kube, ns, helm) -> None:
    """The runtime's Role grants Leases by verb only (RBAC cannot limit create, list or watch by
    name); the chart's ValidatingAdmissionPolicy confines each app's ServiceAccount to its own
    Leases. Checked with the real ServiceAccount tokens of two apps in one namespace."""
    import subprocess
    policy = subprocess.run([str(helm), "template", "wippy", str(CHART), "--show-only", "templates/leasepolicy.yaml"],
                            capture_output=True, text=True, check=True).stdout
    kube.kubectl("apply", "-f", "-", input=policy)
    try:
        apply(kube, ns, [app_object("blog")])
        deadline = time.monotonic() + 30
        while any(kube.kubectl("get", "rolebinding", f"{a}-runtime", "-n", ns, check=False).returncode
                  for a in ("shop", "blog")):
            assert time.monotonic() < deadline, "the operator made no ServiceAccounts and Roles"
            time.sleep(0.2)
        token = {a: kube.kubectl("create", "token", f"{a}-runtime", "-n", ns).stdout.strip() for a in ("shop", "blog")}

        def as_app(app: str, *args: str, input=None):
            return kube.kubectl(*args, "-n", ns, f"--token={token[app]}", input=input, check=False)

        assert as_app("blog", "create", "-f", "-", input=_lease("blog-leader", "blog")).returncode == 0
        deadline = time.monotonic() + 30
        while True:   # the policy takes effect once the API server has loaded it
            denied = as_app("shop", "create", "-f", "-", input=_lease("blog-squat", "blog"))
            if denied.returncode:
                break
            as_app("shop", "delete", "lease", "blog-squat")   # not denied yet: undo, try again
            assert time.monotonic() < deadline, "the lease policy never took effect"
            time.sleep(0.5)
        assert "the runtime of app shop may only write Leases named shop-" in denied.stderr, denied.stderr
        assert as_app("shop", "create", "-f", "-", input=_lease("shop-own", "shop")).returncode == 0
        wrong_label = as_app("shop", "create", "-f", "-", input=_lease("shop-mislabelled", "blog"))
        assert wrong_label.returncode and "may only write Leases" in wrong_label.stderr
        def changed(name: str, **labels: str) -> dict:   # an update (the Role grants update, not patch)
            obj = json.loads(as_app("shop", "get", "lease", name, "-o", "json").stdout)
            obj["metadata"]["labels"].update(labels)
            obj["spec"]["holderIdentity"] = "{shop-pod@app:procs|0x00001}"
            return obj
        for attempt, body in ((("delete", "lease", "blog-leader"), None),
                              (("replace", "-f", "-"), changed("blog-leader")),
                              (("replace", "-f", "-"), changed("blog-leader", **{"wippy.ai/app": "shop"}))):
            out = as_app("shop", *attempt, input=body)
            assert out.returncode and "ValidatingAdmissionPolicy" in out.stderr, (attempt, out.stderr)
        relabel = as_app("shop", "replace", "-f", "-", input=changed("shop-own", **{"wippy.ai/app": "blog"}))
        assert relabel.returncode and "may only write Leases" in relabel.stderr, relabel.stderr
        assert as_app("shop", "replace", "-f", "-", input=changed("shop-own")).returncode == 0
        # reads are not limited (list and watch cannot be), nor is the app's own work
        assert as_app("shop", "get", "lease", "blog-leader").returncode == 0
        assert as_app("shop", "delete", "lease", "shop-own").returncode == 0
        assert as_app("blog", "delete", "lease", "blog-leader").returncode == 0
        # and RBAC keeps the rest: no other app's Secret, ConfigMaps or Leases of other namespaces
        secret = as_app("shop", "get", "secret", "blog-mesh")
        assert secret.returncode and "forbidden" in secret.stderr.lower()
        other_ns = kube.kubectl("get", "leases", "-n", "default", f"--token={token['shop']}", check=False)
        assert other_ns.returncode and "forbidden" in other_ns.stderr.lower()
    finally:
        kube.kubectl("delete", "-f", "-", "--ignore-not-found", input=policy, check=False)
