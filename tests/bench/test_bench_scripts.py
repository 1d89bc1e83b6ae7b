"""The benchmark scripts run and print their figures (numbers are read by people, not asserted)."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_actors_bench_prints_every_figure():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "actors.py"), "--quick"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for figure in ("messages/s, ping-pong", "spawns/s", "bytes per idle process @ 10,000", "funcs.call round trip"):
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith(figure))
        assert any(ch.isdigit() for ch in line[len(figure):]), line


def test_modules_bench_prints_every_figure():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "modules.py"), "--quick"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for op in ("json.encode", "json.decode", "compress.gzip.decode", "compress.zstd.encode", "crypto.encrypt.aes",
               "hash.sha256", "text.regexp replace_all_string", "text.splitter split_text"):
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith(op + " "))
        assert re.search(r"\d+\.\d+ms +\d+\.\d+ms +\d+\.\d+x", line), line


def test_hostile_bench_prints_latency_per_attack():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "hostile.py"), "dag_exit_value", "gc_control_refused"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for attack in ("dag_exit_value", "gc_control_refused"):
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith(attack + " "))
        assert re.search(r"-?\d+\.\d+ +-?\d+\.\d+ +-?\d+\.\d+ +-?\d+\.\d+$", line), line
    assert "over 100 ms of node CPU:" in out.stdout
