"""The operator image's entrypoint runs from an installed venv (no Docker engine here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def entrypoint() -> list[str]:
    line = next(ln for ln in (ROOT / "Dockerfile").read_text().splitlines() if ln.startswith("ENTRYPOINT"))
    return json.loads(line.split(None, 1)[1])


def test_dockerfile_entrypoint_runs():
    cmd = entrypoint()
    assert cmd[:1] == ["python"]
    out = subprocess.run([sys.executable, *cmd[1:], "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "--metrics-port" in out.stdout and "--peering" in out.stdout


def test_a_malformed_webhook_service_is_refused_before_anything_starts():
    out = subprocess.run([sys.executable, "-m", "wippy_operator", "--webhook-port", "9443",
                          "--webhook-service", "wippy-webhook"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "NAMESPACE/NAME:PORT" in out.stderr and "'wippy-webhook'" in out.stderr
