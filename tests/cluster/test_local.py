"""`wippy run --cluster`: two local nodes of one app folder (two runtime processes) join over the
mesh through a seed address; a command on one spawns on the other and gets its reply."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

WIPPY = str(Path(sys.executable).with_name("wippy"))

APP = """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: echo
    kind: process.lua
    method: main
    modules: [system]
    source: |
      local system = require("system")
      return {main = function()
        local inbox = process.inbox()
        while true do
          local m = inbox:receive()
          process.send(m:from(), "pong", {n = m:payload():data().n, node = system.node.id()})
        end
      end}
  - name: ping
    kind: process.lua
    method: main
    modules: [system, time, channel]
    source: |
      local system, time, channel = require("system"), require("time"), require("channel")
      return {main = function(peer)
        local deadline = time.now():unix() + 30
        local up = false
        while not up do
          for _, m in ipairs(system.cluster.members()) do
            if m.id == peer and m.meta and m.meta.connected == "true" then up = true end
          end
          if time.now():unix() > deadline then print("peer never connected: " .. peer); return 1 end
          time.sleep("20ms")
        end
        local pid = process.spawn("app:echo", peer .. "@app:procs")
        process.send(pid, "ping", {n = 41})
        local r = channel.select({process.inbox():case_receive(), time.after("10s"):case_receive()})
        local pong = r.value and r.value:payload():data()
        local _, err = process.registry.register("x", nil, process.registry.CONSISTENT)
        print(string.format("pong %s from %s (%s); size %d; CONSISTENT: %s", tostring(pong and pong.n),
          tostring(pong and pong.node), tostring(pid), system.cluster.size(), tostring(err)))
        return 0
      end}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_local_nodes_join_through_a_seed_and_spawn_on_each_other(tmp_path: Path) -> None:
    app = tmp_path / "shop"
    app.mkdir()
    (app / "_index.yaml").write_text(APP)
    env = {k: v for k, v in os.environ.items() if k != "WIPPY_CLUSTER_KEY"}
    seed = f"127.0.0.1:{free_port()}"
    a = subprocess.Popen([WIPPY, "run", str(app), "--cluster", "--listen", seed, "--node-name", "node-a"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        b = subprocess.run([WIPPY, "run", str(app), "--cluster", "--listen", f"127.0.0.1:{free_port()}",
                            "--node-name", "node-b", "--join", seed, "-x", "app:ping", "node-a"],
                           env=env, capture_output=True, text=True, timeout=120)
        out = b.stdout + b.stderr
        assert b.returncode == 0, out
        assert "pong 41 from node-a ({node-a@app:procs|" in out, out
        assert "size 2" in out, out
        assert "CONSISTENT: CONSISTENT and STRONG names need the API server" in out, out
        assert (app / ".wippy" / "cluster.key").stat().st_mode & 0o777 == 0o600
    finally:
        a.terminate()
        try:
            a.wait(30)
        except subprocess.TimeoutExpired:
            a.kill()
            a.wait()
    log = a.stdout.read() if a.stdout else ""
    assert "connected to node-b" in log, log


def test_cluster_flags_are_refused_without_cluster_and_on_kubernetes(tmp_path: Path, capsys) -> None:
    from wippy.cli.main import main
    (tmp_path / "_index.yaml").write_text('version: "1.0"\nnamespace: app\nentries: []\n')
    assert main(["run", str(tmp_path), "--join", "127.0.0.1:1"]) == 1
    assert "--listen and --join go with --cluster" in capsys.readouterr().err
    assert main(["run", "--kubernetes", "--cluster"]) == 1
    assert "--cluster is for a local cluster" in capsys.readouterr().err
    assert main(["run", str(tmp_path), "--cluster", "--listen", "nowhere"]) == 1
    assert "--listen wants HOST:PORT" in capsys.readouterr().err
