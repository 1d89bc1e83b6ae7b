"""The checked-in CRDs are what the kind models generate, and their schemas are structural."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wippy.kinds.models.catalog import MODELS
from wippy.kube import crds
from wippy.kube.naming import crd_kind

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "run `wippy crds --out crds --out helm/files/crds` and commit the result"


@pytest.mark.parametrize("folder", ["crds", "helm/files/crds"])
def test_checked_in_crds_are_up_to_date(folder):
    expected = {crds.file_name(c): crds.render(c) for c in crds.all_crds()}
    # kopf's own peering CRDs ship beside the generated ones in the chart
    actual = {p.name: p.read_text() for p in (ROOT / folder).glob("*.yaml") if not p.name.startswith("kopf.dev_")}
    assert sorted(actual) == sorted(expected), f"{folder}/ has other files than generated: {REGENERATE}"
    stale = [name for name in expected if actual[name] != expected[name]]
    assert not stale, f"{folder}/ is out of date ({', '.join(stale)}): {REGENERATE}"


def test_wippy_crds_prints_every_crd():
    out = subprocess.run([sys.executable, "-m", "wippy.cli.main", "crds"], capture_output=True, text=True, check=True).stdout
    assert out.count("kind: CustomResourceDefinition") == len({crd_kind(k) for k in MODELS}) + 1


def _walk(node: dict, path: str):
    yield path, node
    for name, child in (node.get("properties") or {}).items():
        yield from _walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _walk(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("crd", crds.all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_schema_is_structural_and_described(crd):
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema, ""):
        assert "$ref" not in node and "anyOf" not in node and "oneOf" not in node, path
        assert node.get("type") or node.get("x-kubernetes-preserve-unknown-fields") or node.get(
            "x-kubernetes-int-or-string"), f"{path} has no type"
        assert not ("properties" in node and "additionalProperties" in node), path
        assert "default" not in node, f"{path}: defaults would rewrite what users applied"
    for name, prop in schema["properties"]["spec"]["properties"].items():
        assert prop.get("description"), f"spec.{name} has no description"
    assert "id" in schema["properties"]["spec"].get("required", []) or crd["spec"]["names"]["kind"] == "WippyApp"
    assert version["subresources"] == {"status": {}}
    assert schema["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True
    columns = [c["name"] for c in version["additionalPrinterColumns"]]
    assert "Ready" in columns and "Age" in columns
    assert crd["spec"]["names"]["categories"] == ["wippy"] and crd["spec"]["names"]["shortNames"]


def test_short_names_are_unique():
    names = [c["spec"]["names"]["shortNames"][0] for c in crds.all_crds()]
    assert len(names) == len(set(names))


def test_nullable_and_int_or_string_fields():
    schema = crds.entry_crd("ProcessHost", ["process.host"], "wph")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    limits = schema["properties"]["spec"]["properties"]["limits"]["properties"]
    assert limits["slice_timeout"]["x-kubernetes-int-or-string"] is True
    assert limits["max_instructions"] == {"type": "integer", "minimum": 0, "nullable": True,
                                          "description": limits["max_instructions"]["description"]}


def test_runtime_image_default_is_the_charts_app_version():
    """WippyApp's default image is pinned to this release: the chart's appVersion and the package's."""
    import tomllib

    import wippy
    chart = yaml.safe_load((ROOT / "helm" / "Chart.yaml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert wippy.__version__ == str(chart["appVersion"]) == project["version"]
    description = crds.app_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"]["image"]["description"]
    assert f"ghcr.io/wippy/wippy-runtime:{wippy.__version__}" in description
