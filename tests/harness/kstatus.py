"""The real kstatus library (sigs.k8s.io/cli-utils, as Flux and `kubectl wait`-style tools use it)
as a small Go helper, built once like kube-apiserver into the tools cache (tests/harness/kstatus)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent / "kstatus"
VERSION = "v0.37.2"  # sigs.k8s.io/cli-utils, as in kstatus/go.mod


def binary() -> Path:
    cache = Path(os.environ.get("WIPPY_TOOLS_CACHE", Path.home() / ".cache" / "wippy-tools"))
    source = hashlib.sha256(b"".join((HERE / f).read_bytes() for f in ("main.go", "go.mod", "go.sum"))).hexdigest()
    path = cache / f"kstatus-cli-utils-{VERSION}-{source[:10]}"  # rebuilt when the helper changes
    if path.is_file():
        return path
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".kstatus.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not path.is_file():
            env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
            subprocess.run(["go", "build", "-o", str(path), "."], cwd=HERE, env=env, check=True,
                           capture_output=True, text=True, timeout=1800)
    return path


def compute(objects: list[dict]) -> dict[str, tuple[str, str]]:
    """name -> (kstatus status, message) for each object."""
    done = subprocess.run([str(binary())], input=json.dumps({"items": objects}), capture_output=True, text=True,
                          timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"kstatus helper failed: {done.stderr}")
    out = done.stdout
    return {r["name"]: (r["status"], r["message"]) for r in map(json.loads, out.splitlines())}
