"""Two runtimes in one event loop joined by the mesh (membership given by hand, as the API
server's EndpointSlices would give it): pids of one node reach processes of the other."""
from __future__ import annotations

import asyncio
from pathlib import Path


from wippy.cluster.cluster import Cluster
from wippy.cluster.membership import Member
from wippy.cluster.mesh import Mesh
from wippy.cluster.names import Names
from wippy.runtime import Runtime

APP = """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: echo
    kind: process.lua
    method: main
    source: |
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
    modules: [system]
  - name: square
    kind: process.lua
    method: main
    source: "return {main = function(x) return x * x end}"
  - name: sender
    kind: process.lua
    method: main
    source: "return {main = function(pid, n) for i = 1, n do process.send(pid, 'hi', i) end return true end}"
  - name: collector
    kind: process.lua
    method: main
    source: |
      local function main(n)
        local inbox, events = process.inbox(), process.events()
        local out = {count = 0, in_order = true}
        for i = 1, n do
          local m = inbox:receive()
          local v = m:payload():data()
          if m:topic() == "table" then out.table = v
          elseif m:topic() == "error" then
            out.error = {is_error = errors.is(v.err, errors.NOT_FOUND), text = tostring(v.err), n = v.n}
          else
            if v ~= out.count + 1 then out.in_order = false end
            out.count = v
          end
        end
        local ev = events:receive()   -- sent after every message: arrives after all of them
        out.event = ev.kind
        out.pending = #inbox
        return out
      end
      return {main = main}
  - name: streamer
    kind: process.lua
    method: main
    source: |
      local function main(host, n)
        local pid = process.spawn("app:collector", host, n + 2)
        for i = 1, n do
          process.send(pid, "seq", i)
          if i == n // 2 then
            process.send(pid, "table", {a = {1, 2, {b = "c"}}, s = "x", f = 1.5, t = true})
            process.send(pid, "error", {err = errors.new({kind = errors.NOT_FOUND, message = "gone"}), n = i})
          end
        end
        process.cancel(pid)
        return pid
      end
      return {main = main}
  - {name: pg, kind: pg.scope}
  - name: member
    kind: process.lua
    method: main
    modules: [pg]
    source: |
      local pg = require("pg")
      local function main(group)
        local g = assert(pg.open("app:pg"))
        assert(g:join(group))
        local ch = process.listen("task")
        return ch:receive()
      end
      return {main = main}
  - name: watcher
    kind: process.lua
    method: main
    modules: [pg]
    source: |
      local pg = require("pg")
      local function main(group)
        local g = assert(pg.open("app:pg"))
        local sub, members = g:monitor(group)
        local ev = sub:channel():receive()
        sub:close()
        return {before = #members, kind = ev.kind, path = ev.path, pids = ev.data.PIDs}
      end
      return {main = main}
  - name: caster
    kind: process.lua
    method: main
    modules: [pg]
    source: |
      local pg = require("pg")
      local function main(group)
        local g = assert(pg.open("app:pg"))
        local members = g:get_members(group)
        local locals = g:get_local_members(group)
        assert(g:broadcast(group, "task", {id = 42}))
        return {members = #members, locals = #locals, groups = g:which_groups()}
      end
      return {main = main}
  - name: holder
    kind: process.lua
    method: main
    source: |
      local function main()
        local ok, err = process.registry.register("svc", nil, process.registry.EVENTUAL)
        if not ok then return "register failed: " .. tostring(err) end
        local ev = process.events():receive()
        return ev.kind .. ": " .. tostring(ev.reason)
      end
      return {main = main}
  - name: scenario
    kind: function.lua
    method: main
    source: |
      local function main(peer)
        return process.exec("app:scenario_proc", "app:procs", peer)
      end
      return {main = main}
  - name: scenario_proc
    kind: process.lua
    method: main
    modules: [time, channel]
    source: |
      local time, channel = require("time"), require("channel")
      local function next_of(ch)
        local r = channel.select({ch:case_receive(), time.after("5s"):case_receive()})
        if r.channel ~= ch then return nil end
        return r.value
      end
      local function main(peer)
        local host = peer .. "@app:procs"
        local out = {}
        local events = process.events()
        -- send and a reply, then a normal exit seen by a monitor
        local pid, err = process.spawn_monitored("app:echo", host)
        if not pid then return {spawn_error = tostring(err)} end
        out.pid = pid
        process.send(pid, "ping", {n = 7})
        local msg = next_of(process.inbox())
        out.pong = msg and msg:payload():data()
        process.send(pid, "exit")
        local ev = next_of(events)
        out.normal = ev and {kind = ev.kind, from = ev.from, err = ev.result.error and tostring(ev.result.error) or "none"}
        -- an abnormal exit seen through a trapped link
        process.set_options({trap_links = true})
        local pid2 = process.spawn_linked("app:echo", host)
        process.send(pid2, "crash")
        ev = next_of(events)
        out.crash = ev and {kind = ev.kind, from = ev.from == pid2, err = tostring(ev.result.error)}
        -- exec on the other node
        out.exec = process.exec("app:square", host, 9)
        -- terminate a remote process that a monitor watches
        local pid3 = process.spawn("app:echo", host)
        process.monitor(pid3)
        process.terminate(pid3)
        ev = next_of(events)
        out.terminated = ev and {kind = ev.kind, err = tostring(ev.result.error)}
        return out
      end
      return {main = main}
"""


class _Started:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster

    async def start(self) -> None:
        await self.cluster.start("127.0.0.1", 0, serving=False)

    def serve(self) -> None:
        self.cluster.mesh.serve()

    async def stop(self) -> None:
        await self.cluster.stop()


def _unstarted(tmp: Path, name: str, key: bytes = b"k" * 32) -> Runtime:
    d = tmp / name
    d.mkdir()
    (d / "_index.yaml").write_text(APP)
    rt = Runtime(d, node_name=name, persist_history=False)
    c = Cluster(rt.node, app="t", namespace="ns", key=key)
    c.names = Names(c, None)    # EVENTUAL names need no API server
    rt.cluster = _Started(c)
    return rt


async def _runtime(tmp: Path, name: str, key: bytes = b"k" * 32) -> Runtime:
    rt = _unstarted(tmp, name, key)
    await rt.start()
    return rt


def _join(*rts: Runtime) -> None:
    members = {rt.node.name: Member(rt.node.name, "uid-" + rt.node.name, rt.cluster.cluster.mesh.addr, True)
               for rt in rts}
    for rt in rts:
        rt.cluster.cluster.set_members(members)


async def _connected(rt: Runtime, peer: str) -> None:
    for _ in range(200):
        if rt.cluster.cluster.mesh.connected(peer):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{rt.node.name} did not connect to {peer}")


async def test_send_spawn_monitor_link_exec_and_terminate_across_nodes(tmp_path: Path) -> None:
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        await _connected(b, "pod-a")
        out = await a.call("app:scenario", "pod-b")
        assert out["pid"].startswith("{pod-b@app:procs|")
        assert out["pong"] == {"n": 7, "node": "pod-b"}
        assert out["normal"] == {"kind": "pid.exit", "from": out["pid"], "err": "none"}
        assert out["crash"]["kind"] == "pid.link.down" and out["crash"]["from"] is True
        assert "crashed on purpose" in out["crash"]["err"]
        assert out["exec"] == 81
        assert out["terminated"]["kind"] == "pid.exit" and "terminated" in out["terminated"]["err"]
    finally:
        await a.stop()
        await b.stop()


async def test_a_spawn_that_reaches_a_node_still_loading_its_app_waits_for_it(tmp_path: Path) -> None:
    """A peer is in the mesh before its entries are loaded (its mesh listens first): a spawn sent
    to it then must wait for the app, not fail for a host it does not have yet."""
    a, b = await _runtime(tmp_path, "pod-a"), _unstarted(tmp_path, "pod-b")
    gate, loading = asyncio.Event(), asyncio.Event()
    load = b.registry.load

    async def slow_load() -> None:     # called once pod-b's mesh listens
        loading.set()
        await gate.wait()
        await load()
    b.registry.load = slow_load       # type: ignore[method-assign]
    starting = asyncio.ensure_future(b.start())
    try:
        await asyncio.wait_for(loading.wait(), 10)
        _join(a, b)
        await _connected(a, "pod-b")
        scenario = asyncio.ensure_future(a.call("app:scenario", "pod-b"))
        await asyncio.sleep(0.3)
        assert not scenario.done()     # held by pod-b until its app is there
        gate.set()
        await starting
        out = await asyncio.wait_for(scenario, 20)
        assert out["pong"] == {"n": 7, "node": "pod-b"}, out
        assert out["exec"] == 81
    finally:
        gate.set()
        await starting
        await a.stop()
        await b.stop()


async def test_a_node_of_an_older_version_is_sent_only_frames_it_reads(tmp_path: Path) -> None:
    """During a rolling update an older node, which does not read the engines' batched message
    frames ("M"), gets each message as its own frame; it still gets batches from no one."""
    a, b = await _runtime(tmp_path, "pod-a"), _unstarted(tmp_path, "pod-b")
    b.cluster.cluster.mesh.reads = ()          # as a node of the previous version tells
    got: dict[str, set] = {"pod-a": set(), "pod-b": set()}
    for rt in (a, b):
        mesh = rt.cluster.cluster.mesh
        mesh.on_frames = (lambda orig, kinds: lambda node, frames, ext: (
            kinds.update(f[0] for f in frames), orig(node, frames, ext)))(mesh.on_frames, got[rt.node.name])
    await b.start()
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        await _connected(b, "pod-a")
        out = await a.call("app:scenario", "pod-b")
        assert out["pong"] == {"n": 7, "node": "pod-b"}, out
        assert out["exec"] == 81
        assert "M" not in got["pod-b"] and "m" in got["pod-b"]
        assert "M" in got["pod-a"]                 # the newer node reads batches: it gets them
    finally:
        await a.stop()
        await b.stop()


class _GlobalHost:
    """A host whose pids name no node (as a Temporal worker's: `{client@worker|wid}`)."""
    global_pids = True

    def __init__(self) -> None:
        self.got: list = []

    def deliver(self, pid, topic, frm, value) -> None:
        self.got.append((pid, topic, value))


async def test_a_workflow_pid_on_a_clustered_node_goes_to_its_host_not_the_mesh(tmp_path: Path) -> None:
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    worker = _GlobalHost()
    a.node.add_host("app:worker", worker)
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        wf = "{app:temporal@app:worker|order-1}"
        assert await a.node.exec("app:sender", "app:procs", [wf, 3]) is True
        a.node.send(wf, "direct", None, 4)
        for _ in range(100):
            if len(worker.got) == 4:
                break
            await asyncio.sleep(0.02)
        assert sorted(v for _, _, v in worker.got) == [1, 2, 3, 4]
        assert {p for p, _, _ in worker.got} == {wf}
    finally:
        await a.stop()
        await b.stop()


async def test_a_stream_across_nodes_arrives_in_order_with_tables_errors_and_a_signal_last(tmp_path: Path) -> None:
    """Messages arrive in batches on the receiving node; the order of one sender's messages and
    of its signal after them holds, and tables and errors arrive as they were sent."""
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        await _connected(b, "pod-a")
        got: list[dict] = []
        watcher = b.node.control_pid(got.append)
        n = 30000
        orig = b.node.spawn
        pids: list[str] = []

        def spawn(*args, **kw):   # watch the collector as it starts on pod-b
            pid = orig(*args, **kw)
            if args and args[0] == "app:collector":
                b.node.monitor(pid, watcher, True)
                pids.append(pid)
            return pid
        b.node.spawn = spawn      # type: ignore[method-assign]
        pid = await a.node.exec("app:streamer", "app:procs", ["pod-b@app:procs", n])
        await _until(lambda: bool(got), "the collector did not finish", tries=1500)
        assert pids == [pid]
        out = got[0]["result"]["value"]
        assert out["count"] == n and out["in_order"] is True
        assert out["table"] == {"a": [1, 2, {"b": "c"}], "s": "x", "f": 1.5, "t": True}
        assert out["error"] == {"is_error": True, "text": "gone", "n": n // 2}
        assert out["event"] == "pid.cancel" and out["pending"] == 0
    finally:
        await a.stop()
        await b.stop()


async def test_a_lost_node_fires_monitors_and_links_with_node_down(tmp_path: Path) -> None:
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    stopped_b = False
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        got: list[dict] = []
        watcher = a.node.control_pid(got.append)
        pid = await a.node.spawn("app:echo", "pod-b@app:procs", [], caller=watcher, monitored=True)
        assert pid.startswith("{pod-b@")
        await b.stop()                       # the node goes away: its connection closes
        stopped_b = True
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got and got[0]["kind"] == "pid.exit" and got[0]["from"] == pid
        err = got[0]["result"]["error"]
        assert err.kind == "Unavailable" and err.message.startswith("node down: pod-b")
    finally:
        await a.stop()
        if not stopped_b:
            await b.stop()


async def test_a_silent_peer_is_taken_as_down_and_dialled_again(tmp_path: Path, monkeypatch) -> None:
    """A peer whose connection stays open but carries nothing (its process stopped) is lost after
    the mesh's silence: monitors fire with node down, and the link comes back when it speaks again."""
    from wippy.cluster import mesh as mesh_mod
    monkeypatch.setattr(mesh_mod, "TICK", 0.05)
    monkeypatch.setattr(mesh_mod, "SILENCE", 0.5)
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        await _connected(b, "pod-a")
        got: list[dict] = []
        watcher = a.node.control_pid(got.append)
        pid = await a.node.spawn("app:echo", "pod-b@app:procs", [], caller=watcher, monitored=True)
        mb = b.cluster.cluster.mesh
        mb._ticker.cancel()                                  # pod-b stops speaking ...
        mb.links["pod-a"].writer.transport.pause_reading()   # ... and its link to pod-a carries nothing
        held = mb.links["pod-a"].send
        mb.links["pod-a"].send = lambda data: None           # type: ignore[method-assign]
        await _until(lambda: bool(got), "the silent peer's monitor did not fire")
        err = got[0]["result"]["error"]
        assert got[0]["from"] == pid and err.kind == "Unavailable"
        assert err.message == "node down: pod-b (connection lost)"
        assert a.cluster.cluster.mesh.stalls >= 1   # (it dials again at once: pod-b's loop still accepts)
        mb.links["pod-a"].send = held                        # type: ignore[method-assign]
        mb._ticker = asyncio.get_running_loop().create_task(mb._tick())
        await _connected(a, "pod-b")
    finally:
        await a.stop()
        await b.stop()


async def test_a_node_without_the_key_cannot_connect(tmp_path: Path) -> None:
    a = await _runtime(tmp_path, "pod-a")
    try:
        seen: list = []
        intruder = Mesh("pod-x", "inc", b"not-the-key", "t", lambda n, f, x: None,
                        lambda n, inc, state: seen.append(state))
        intruder.peer("pod-a", a.cluster.cluster.mesh.addr)
        intruder.send("pod-a", ["m", "{pod-a@app:procs|0x00001}", "t", None, "hi"])
        for _ in range(100):
            if a.cluster.cluster.mesh.refused:
                break
            await asyncio.sleep(0.02)
        assert a.cluster.cluster.mesh.refused >= 1 and "up" not in seen
        other_app = Mesh("pod-y", "inc", b"k" * 32, "another-app", lambda n, f, x: None, lambda *x: seen.append(x[2]))
        other_app.peer("pod-a", a.cluster.cluster.mesh.addr)
        await asyncio.sleep(0.3)
        assert "up" not in seen and a.cluster.cluster.mesh.refused >= 2
        await intruder.close()
        await other_app.close()
    finally:
        await a.stop()


async def test_an_eventual_name_registered_on_two_nodes_is_revoked_from_the_later(tmp_path: Path) -> None:
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    try:
        exits: dict[str, list] = {"a": [], "b": []}
        wa, wb = a.node.control_pid(exits["a"].append), b.node.control_pid(exits["b"].append)
        first = a.node.spawn("app:holder", "app:procs", [], caller=wa, monitored=True)
        for _ in range(100):
            if a.node.lookup_name("svc") == first:
                break
            await asyncio.sleep(0.01)
        second = b.node.spawn("app:holder", "app:procs", [], caller=wb, monitored=True)
        for _ in range(100):
            if b.node.lookup_name("svc") == second:
                break
            await asyncio.sleep(0.01)
        assert b.node.lookup_name("svc") == second      # apart, each node has its own
        _join(a, b)
        for _ in range(300):
            if exits["b"]:
                break
            await asyncio.sleep(0.02)
        assert exits["b"] and exits["b"][0]["result"]["value"] == "pid.cancel: name revoked: svc"
        assert not exits["a"]                              # the earlier registration keeps it
        assert a.node.lookup_name("svc") == first
        for _ in range(100):
            if b.node.lookup_name("svc") == first:
                break
            await asyncio.sleep(0.02)
        assert b.node.lookup_name("svc") == first
    finally:
        await a.stop()
        await b.stop()


async def _until(pred, what: str, tries: int = 300) -> None:
    for _ in range(tries):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(what)


async def test_process_groups_span_nodes(tmp_path: Path) -> None:
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        await _connected(b, "pod-a")
        exits: list[dict] = []
        wa, wb = a.node.control_pid(exits.append), b.node.control_pid(exits.append)
        watcher = a.node.spawn("app:watcher", "app:procs", ["workers"], caller=wa, monitored=True)
        await _until(lambda: a.node.pg is not None and a.node.pg.scopes["app:pg"].subs, "no subscription")
        first = b.node.spawn("app:member", "app:procs", ["workers"], caller=wb, monitored=True)

        def members() -> list[str]:
            return a.node.pg.scopes["app:pg"].members("workers")
        await _until(lambda: members() == [first], "pod-b's member did not reach pod-a")
        for _ in range(2):
            a.node.spawn("app:member", "app:procs", ["workers"], caller=wa, monitored=True)
        await _until(lambda: len(members()) == 3, "members did not reach pod-a")
        await _until(lambda: len(b.node.pg.scopes["app:pg"].members("workers")) == 3, "members did not reach pod-b")
        ev = next(e for e in exits if e["from"] == watcher)["result"]["value"]
        assert ev == {"before": 0, "kind": "member.joined", "path": "workers", "pids": [first]}

        out = await a.node.exec("app:caster", "app:procs", ["workers"])
        assert out == {"members": 3, "locals": 2, "groups": ["workers"]}
        await _until(lambda: sum(1 for e in exits if e["result"].get("value") == {"id": 42}) == 3,
                     "the broadcast did not reach every member")
        # members that exited left their groups, on both nodes
        await _until(lambda: members() == [] and b.node.pg.scopes["app:pg"].members("workers") == [],
                     "exited members stayed in the group")

        b.node.spawn("app:member", "app:procs", ["workers"], caller=wb, monitored=True)
        await _until(lambda: len(members()) == 1, "a new member on pod-b did not reach pod-a")
        await b.stop()
        await _until(lambda: members() == [], "the members of a node that went stayed")
    finally:
        await a.stop()
        if b.node.hosts:
            await b.stop()
