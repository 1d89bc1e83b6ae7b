"""`wippy manifests`: an app folder as custom resources, and back to the same entries."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wippy.kube.manifests import from_object, render_app
from wippy.loader.tree import load_tree

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir() if (p / "_index.yaml").exists())


@pytest.mark.parametrize("app_dir", EXAMPLES, ids=lambda p: p.name)
def test_every_example_round_trips(app_dir):
    entries = load_tree(app_dir).entries
    objects = render_app(app_dir)
    assert objects[0]["kind"] == "WippyApp"   # first, so that entries are not applied before their app
    back = {e.id: e for e in map(from_object, objects[1:])}
    assert back == entries
    assert all(o["metadata"]["labels"] == {"wippy.ai/app": app_dir.name} for o in objects)


def test_cli_renders_namespace_and_app_name():
    out = subprocess.run([sys.executable, "-m", "wippy.cli.main", "manifests", str(ROOT / "examples/hello-world"),
                          "--app", "greeter", "-n", "team-a"], capture_output=True, text=True, check=True).stdout
    docs = list(yaml.safe_load_all(out))
    assert {d["metadata"]["namespace"] for d in docs} == {"team-a"}
    greet = next(d for d in docs if d["spec"].get("id") == "hello:greet")
    assert greet["metadata"] == {"name": "hello.greet", "labels": {"wippy.ai/app": "greeter"}, "namespace": "team-a"}
    assert "return {greet = greet}" in greet["spec"]["source"]  # file:// inlined


def test_cli_reports_a_broken_app(tmp_path):
    (tmp_path / "_index.yaml").write_text("version: '1.0'\nnamespace: app\nentries:\n  - name: x\n    kind: function.lua\n    source: file://missing.lua\n    method: m\n")
    r = subprocess.run([sys.executable, "-m", "wippy.cli.main", "manifests", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 1 and "missing.lua" in r.stderr and r.stdout == ""


def test_kubernetes_example_is_up_to_date():
    out = subprocess.run([sys.executable, "-m", "wippy.cli.main", "manifests", str(ROOT / "examples/hello-world")],
                         capture_output=True, text=True, check=True).stdout
    assert (ROOT / "examples/kubernetes/hello-world.yaml").read_text() == out, \
        "run `wippy manifests examples/hello-world > examples/kubernetes/hello-world.yaml`"
