"""The cluster harness puts the host back as it was: started and stopped with a pod run in
between (so there are netns mounts, veths, cgroups and kubelet sysctls to undo), the sysctls, the
mounts, the bridge and the directories it touched are as before. It runs before the session's
shared cluster starts (file order), and that cluster's start is the second in a row."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.realpods.conftest import require_root
from tests.harness import cluster_node
from tests.harness.cluster_node import BRIDGE, FIXED_DIRS, KUBELET_SYSCTLS, ClusterNode


def host_snapshot() -> dict:
    return {
        "sysctls": {k: cluster_node._read_sysctl(k) for k in KUBELET_SYSCTLS},
        "mounts": sorted(cluster_node._mount_points()),
        "dirs": {d: Path(d).exists() for d in FIXED_DIRS},
        "bridge": subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0,
        "cgroups": sorted(map(str, cluster_node._cgroup_dirs())),
    }


def test_start_run_a_pod_stop_leaves_the_host_as_it_was():
    require_root()
    before = host_snapshot()
    with ClusterNode() as node:
        during = host_snapshot()
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pause"},
               "spec": {"containers": [{"name": "pause", "image": node.images["pause"].ref,
                                        "imagePullPolicy": "Never"}]}}
        node.kubectl("apply", "-f", "-", input=json.dumps(pod))
        node.kubectl("wait", "--for=condition=Ready", "pod/pause", "--timeout=120s")
        with_pod = host_snapshot()
    after = host_snapshot()
    assert during["bridge"] and not before["bridge"]
    assert len(with_pod["mounts"]) > len(before["mounts"])  # the pod's netns and kubelet mounts
    assert after == before
