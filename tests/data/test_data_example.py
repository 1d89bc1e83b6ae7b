"""examples/task-queue through the CLI: queue + consumer + SQLite + store + events."""
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "task-queue"


def test_task_queue_demo(tmp_path):
    app = tmp_path / "task-queue"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".wippy"))
    r = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(app), "demo", "4"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"#{i} task {i}: done -> TASK {i}" for i in range(1, 5)]
    # state persists in SQLite: a second run continues the ids
    r = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(app), "demo", "1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["#5 task 1: done -> TASK 1"]
