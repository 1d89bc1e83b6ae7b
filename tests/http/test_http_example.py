"""examples/http-hello served from its folder, and bench/http_bench.py printing its figures."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_http_hello_example(http_app, monkeypatch):
    monkeypatch.setenv("HTTP_ADDR", "127.0.0.1:0")
    shutil.copytree(ROOT / "examples" / "http-hello", http_app.root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".wippy"))
    await http_app.start()
    assert http_app.runtime.errors == []
    async with http_app.session.get(http_app.url("/api/hello/ann?greeting=hi")) as r:
        assert await r.json() == {"message": "hi, ann"}
    async with http_app.session.get(http_app.url("/api/ticks")) as r:
        assert (await r.text()).count("event: tick") == 3


def test_http_bench_prints_side_by_side_figures():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "http_bench.py"), "--quick", "--connections", "8"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for label in ("bare aiohttp handler", "Lua endpoint (http.endpoint)"):
        line = next(ln for ln in out.stdout.splitlines() if ln.startswith(label))
        assert len([x for x in line[len(label):].split() if x.replace(".", "").isdigit()]) == 3, line
    assert "Lua / bare throughput:" in out.stdout
