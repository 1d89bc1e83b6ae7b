"""The runtime pod's probe endpoints: /livez answers while the event loop runs, /readyz only once
the app's entries were applied (tests/kubernetes/test_e2e.py sees both pass on a serving pod). Here
the API server is unreachable, so the first sync never comes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from tests.harness.processes import stop_process

WIPPY = str(Path(sys.executable).with_name("wippy"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_livez_answers_and_readyz_waits_for_the_first_sync(tmp_path):
    dead = free_port()  # nothing listens: every list of the app's maps fails
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": f"http://127.0.0.1:{dead}"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x", "namespace": "shop"}}]}))
    port = free_port()
    proc = subprocess.Popen([WIPPY, "run", "--kubernetes", "--app", "shop", "--metrics", f"127.0.0.1:{port}"],
                            env={**os.environ, "KUBECONFIG": str(kubeconfig), "POD_NAME": "shop-0"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                live = status(f"http://127.0.0.1:{port}/livez")
                break
            except OSError:  # not listening yet, or busy starting (imports, the Lua engine) on a loaded machine
                assert time.monotonic() < deadline and proc.poll() is None, "the probe server never answered"
                time.sleep(0.2)
        assert live == 200
        assert status(f"http://127.0.0.1:{port}/readyz") == 503
        assert status(f"http://127.0.0.1:{port}/metrics") == 200
        # an entry's recent logs (for `wippy mcp --kubernetes`; the records are seen in test_mcp_kubernetes.py)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/logs?entry=app:x&limit=5", timeout=10) as r:
            assert r.read() == b"[]"
        assert status(f"http://127.0.0.1:{port}/logs") == 400
        # a pod deleted while it waits for the API server stops when asked, not after the wait
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    finally:
        stop_process(proc)
