"""In a pod the Temporal address comes from the environment (a WippyApp's temporal.address
becomes TEMPORAL_ADDRESS): a temporal.client without an address uses it, starting no dev server."""
import subprocess
import sys

import pytest

from tests.temporal.conftest import copy_example

pytestmark = pytest.mark.temporal


def test_client_without_address_uses_temporal_address_env(temporal_address, tmp_path, monkeypatch):
    app = copy_example(tmp_path / "order-flow", temporal_address)
    index = (app / "_index.yaml").read_text().replace(f"    address: {temporal_address}\n", "", 1)
    (app / "_index.yaml").write_text(index)
    monkeypatch.setenv("TEMPORAL_ADDRESS", temporal_address)
    r = subprocess.run([sys.executable, "-m", "wippy.cli.main", "-s", "run", str(app), "order", "yes"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert not (app / ".wippy" / "temporal.db").exists()   # no embedded dev server was started
