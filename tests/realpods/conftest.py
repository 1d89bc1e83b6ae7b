"""Fixtures of the `cluster` tests: a real one-node cluster (tests/harness/cluster_node.py) with
kubelet, containerd, controller-manager and scheduler, running the project's images.

Every test here gets the markers `cluster` and `kubernetes`, so the quick loop
(`-m "not kubernetes and ..."`) leaves them out and `-m cluster` runs only them. The first run
builds the node's binaries (scripts/k8s-tools.sh --node) and the images (scripts/images.sh);
both are cached. The tests need root (bridge, mounts, containerd).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.cluster_node import ClusterNode

_HERE = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m deselection looks at the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.cluster)
            item.add_marker(pytest.mark.kubernetes)
            # the first test's set-up may build the node's binaries and the images (cold: ~30 min here)
            item.add_marker(pytest.mark.timeout(3600))


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("the cluster tests run a kubelet and containerd: they need root")


@pytest.fixture(scope="session")
def node() -> Iterator[ClusterNode]:
    """The one-node cluster shared by the tests of a run; KUBECONFIG points at it."""
    require_root()
    with ClusterNode() as cluster:
        assert cluster.kube is not None
        old = os.environ.get("KUBECONFIG")
        os.environ["KUBECONFIG"] = str(cluster.kube.kubeconfig)
        try:
            yield cluster
        finally:
            if old is None:
                os.environ.pop("KUBECONFIG", None)
            else:
                os.environ["KUBECONFIG"] = old
