"""The examples, run through the CLI as a user runs them."""
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def wippy(*args, cwd=None, timeout=30, input=None):
    return subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, input=input)


@pytest.fixture
def example(tmp_path):
    def copy(name):
        dest = tmp_path / name
        shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns(".wippy"))
        return dest
    return copy


def test_hello_world(example):
    r = wippy("run", str(example("hello-world")), "hello", "Ann")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Hello, Ann!\n"


def test_ping_pong(example):
    r = wippy("run", str(example("ping-pong")), "play", "4")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"round {i}: pong {i}" for i in range(1, 5)] + ["ponger exited: stopped"]


def test_worker_pool(example):
    r = wippy("run", str(example("worker-pool")), "run", "4", "20")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "20 jobs done by 4 workers, sum of squares = 2870"


def test_supervision_demo(example):
    r = wippy("run", str(example("supervision")), "demo")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "started worker"
    assert [ln for ln in lines if ln.startswith("worker went down")] == [
        f"worker went down: sup:worker:9: worker crashed on purpose (restart {i})" for i in (1, 2, 3)]
    assert lines[-1] == "supervisor done after 3 restarts"


def test_supervised_service_comes_back(example):
    app = example("supervision")
    proc = subprocess.Popen([sys.executable, "-m", "wippy.cli.main", "run", str(app)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()

    def counts() -> tuple[int, int]:
        log = list(lines)
        return (sum(1 for ln in log if "worker started" in ln and '"service"' in ln),
                sum(1 for ln in log if "service sup:worker.service failed" in ln))

    def came_back() -> bool:
        starts, restarts = counts()
        return starts >= 3 and restarts >= 2

    deadline = time.monotonic() + 30  # the crashes and restarts take ~2 s; a loaded machine more
    while not came_back() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=15)
    reader.join(timeout=5)
    err = "".join(lines)
    assert proc.returncode == 0, err
    assert came_back(), err


def test_key_value(example):
    r = wippy("run", str(example("key-value")), "demo")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["lang = lua", "model = actors", 'after delete: {"key":"lang"}']


def test_registry_dynamic_twice(example):
    app = example("registry-dynamic")
    for _ in range(2):   # history persists: the second run finds the entry from the first
        r = wippy("run", str(app), "demo")
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].endswith(": hello, agent")
        assert lines[1].endswith(": HELLO, AGENT!")
        assert lines[2] == "broken change refused: true"
        assert lines[4].startswith("rolled back to v") and lines[4].endswith(": hello, agent")


def test_run_list_and_unknown_command(example):
    app = example("hello-world")
    r = wippy("run", str(app), "list")
    assert "hello" in r.stdout and "Print a greeting" in r.stdout
    r = wippy("run", str(app), "nope")
    assert r.returncode == 1 and "unknown command 'nope'" in r.stderr


def test_exec_exit_codes(tmp_path):
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: t\nentries:\n'
        '  - {name: seven, kind: process.lua, source: "return function() return 7 end", method: main}\n'
        '  - {name: text, kind: process.lua, source: "return function() return \\"out\\" end", method: main}\n'
        '  - {name: fail, kind: process.lua, source: "return function() error(\\"bad thing\\") end", method: main}\n'
        '  - {name: no, kind: process.lua, source: "return function() return false end", method: main}\n')
    assert wippy("run", str(tmp_path), "-x", "t:seven").returncode == 7
    r = wippy("run", str(tmp_path), "-x", "t:text")
    assert (r.returncode, r.stdout) == (0, "out\n")
    r = wippy("run", str(tmp_path), "-x", "t:fail")
    assert r.returncode == 1 and "bad thing" in r.stderr and "Traceback" not in r.stderr
    assert wippy("run", str(tmp_path), "-x", "t:no").returncode == 1


def test_init_scaffolds_an_app_that_runs(tmp_path):
    r = wippy("init", str(tmp_path / "new"))
    assert r.returncode == 0
    r = wippy("run", str(tmp_path / "new"), "hello", "you")
    assert r.stdout == "Hello, you!\n", r.stderr


def test_registry_list_and_show(example):
    app = example("hello-world")
    r = wippy("registry", "list", str(app), "--kind", "function.lua", "--ns", "hello")
    assert r.stdout.split() == ["hello:greet", "function.lua"]
    r = wippy("registry", "show", "hello:hello", str(app), "--field", "meta.command.name")
    assert r.stdout.strip() == "hello"


def test_bad_app_reports_file_and_line(tmp_path):
    (tmp_path / "_index.yaml").write_text('version: "1.0"\nnamespace: t\nentries:\n  - name: x\n    kind: function.lua\n'
                                          '    source: "return function( end"\n    method: main\n')
    r = wippy("run", str(tmp_path), "-x", "t:x")
    assert r.returncode == 1
    assert "_index.yaml:4" in r.stderr and "t:x" in r.stderr and "Traceback" not in r.stderr


def test_history_and_rollback_of_running_app(tmp_path):
    (tmp_path / "_index.yaml").write_text('version: "1.0"\nnamespace: t\nentries:\n'
                                          '  - {name: f, kind: function.lua, source: "return function() return 1 end", method: f}\n')
    proc = subprocess.Popen([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the edit must come after the running app recorded version 1 (a slow start on a loaded
        # machine would otherwise load the edited file as its first version)
        deadline = time.monotonic() + 60
        while not wippy("history", str(tmp_path)).stdout.startswith("*    1"):
            assert proc.poll() is None and time.monotonic() < deadline, "the app did not start"
            time.sleep(0.2)
        (tmp_path / "_index.yaml").write_text((tmp_path / "_index.yaml").read_text().replace("return 1", "return 2"))
        deadline = time.monotonic() + 60
        while len((h := wippy("history", str(tmp_path))).stdout.splitlines()) != 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert h.stdout.splitlines()[-1].startswith("*    2")
        r = wippy("rollback", "1", str(tmp_path))
        assert r.returncode == 0 and "version 1" in r.stdout, r.stderr
        assert wippy("history", str(tmp_path)).stdout.splitlines()[0].startswith("*    1")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)
    r = wippy("rollback", "1", str(tmp_path))
    assert r.returncode == 1 and "not running" in r.stderr


def test_override_changes_an_entry_field(example):
    app = example("hello-world")
    src = 'return {greet = function(who) return "Bonjour, " .. who end}'
    r = wippy("run", "-o", f"hello:greet:source={src}", str(app), "hello", "Zoe")
    assert r.stdout == "Bonjour, Zoe\n", r.stderr
    r = wippy("run", "-o", "hello:nope:x=1", str(app), "hello")
    assert r.returncode != 0 and "hello:nope" in r.stderr


def test_metrics_endpoint_serves_runtime_figures(example):
    import socket
    import urllib.request
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = example("supervision")
    proc = subprocess.Popen([sys.executable, "-m", "wippy.cli.main", "-s", "run", "--metrics", f"127.0.0.1:{port}",
                             str(app)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
                if 'wippy_service_restarts_total{service="sup:worker.service"}' in body and \
                        'wippy_processes{host="sup:procs"}' in body:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert 'wippy_processes{host="sup:procs"}' in body, body[:2000]
        assert "wippy_service_restarts" in body
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=15)


def test_options_before_the_command_and_command_args_untouched(example):
    app = example("hello-world")
    r = wippy("run", str(app), "--node-name", "n1", "hello", "--host")
    assert r.stdout == "Hello, --host!\n", r.stderr
