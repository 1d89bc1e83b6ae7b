"""Fixtures for tests that need a real kube-apiserver + etcd.

Every test collected under tests/kubernetes/ gets the ``kubernetes`` marker, so
``pytest -m "not kubernetes"`` skips them and ``pytest tests/kubernetes -m kubernetes``
runs them. The first run builds kube-apiserver, etcd and helm with
scripts/k8s-tools.sh (slow, cached in ~/.cache/wippy-tools afterwards); build them
ahead of time with ``scripts/k8s-tools.sh`` to see the progress.

Note: do not add an ``__init__.py`` to this directory. With pytest's default
"prepend" import mode it would make this package importable as ``kubernetes`` and
shadow the Kubernetes Python client.

Environment:
    WIPPY_K8S_BIN_DIR   use prebuilt etcd/kube-apiserver/helm from this directory
    WIPPY_K8S_NO_BUILD  if set, skip (instead of building) when the tools are missing
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:  # so `tests.harness` imports under plain `pytest`
    sys.path.insert(0, str(_REPO_ROOT))

from tests.harness.kube_cluster import (  # noqa: E402
    KubeCluster,
    KubeClusterError,
    ensure_tools,
    service_account_user,
)

_HERE = Path(__file__).resolve().parent

# Non-admin users available in every session: a plain user and a ServiceAccount-like one.
EXTRA_USERS = [
    ("alice", ["wippy-testers"]),
    service_account_user("wippy-system", "wippy-operator"),
]


@pytest.hookimpl(tryfirst=True)  # before -m deselection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.kubernetes)


@pytest.fixture(scope="session")
def k8s_bin_dir() -> Path:
    """Directory with etcd, kube-apiserver and helm (built on first use)."""
    build = not os.environ.get("WIPPY_K8S_NO_BUILD")
    try:
        return ensure_tools(build=build)
    except KubeClusterError as e:
        if not build:
            pytest.skip(f"Kubernetes test binaries not built (WIPPY_K8S_NO_BUILD set): {e}")
        raise


@pytest.fixture(scope="session")
def kube(k8s_bin_dir: Path) -> Iterator[KubeCluster]:
    """A running KubeCluster for the whole session; KUBECONFIG points at it."""
    cluster = KubeCluster(k8s_bin_dir, extra_users=EXTRA_USERS)
    cluster.start()
    old = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = str(cluster.kubeconfig)
    try:
        yield cluster
    finally:
        if old is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = old
        cluster.stop()


@pytest.fixture(scope="session")
def helm(k8s_bin_dir: Path) -> Path:
    """Path of the helm binary (built with the other tools)."""
    path = k8s_bin_dir / "helm"
    if not path.is_file():
        pytest.fail(f"helm missing in {k8s_bin_dir}")
    return path
