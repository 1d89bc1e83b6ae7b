"""examples/task-queue through the CLI: HTTP + queue + consumer + SQLite + store + events."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "task-queue"


def free_addr() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def env_with_addr() -> tuple[dict, str]:
    addr = free_addr()
    return dict(os.environ, TASKS_ADDR=addr), addr


def test_task_queue_demo(tmp_path):
    app = tmp_path / "task-queue"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".wippy"))
    env, _ = env_with_addr()
    r = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(app), "demo", "4"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"#{i} task {i}: done -> TASK {i}" for i in range(1, 5)]
    # state persists in SQLite: a second run continues the ids
    r = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(app), "demo", "1"],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["#5 task 1: done -> TASK 1"]


def http(method: str, url: str, body: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_task_queue_over_http(tmp_path):
    app = tmp_path / "task-queue"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".wippy"))
    env, addr = env_with_addr()
    proc = subprocess.Popen([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(app)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    base = f"http://{addr}/api/tasks"
    try:
        deadline = time.monotonic() + 40  # generous: a loaded machine starts the app slowly
        while True:
            try:
                status, _ = http("GET", base)
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200
        created = [http("POST", base, {"title": f"job {i}"}) for i in range(3)]
        assert [c[0] for c in created] == [201, 201, 201]
        assert [c[1]["status"] for c in created] == ["queued"] * 3
        assert http("POST", base, {"title": ""})[0] == 400
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            status, tasks = http("GET", base)
            if all(t["status"] == "done" for t in tasks) and len(tasks) == 3:
                break
            time.sleep(0.1)
        assert [(t["title"], t["status"], t["result"]) for t in tasks] == [
            (f"job {i}", "done", f"JOB {i}") for i in range(3)]
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
