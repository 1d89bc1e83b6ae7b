"""Tests that play a runtime pod report as it does: a merge patch of its own key in the app's
report map (kube/projection.py), which the operator mirrors into the entry's status.applied."""
from __future__ import annotations

import json

from tests.harness.processes import wait_for
from wippy.kube import projection


def report(kube, ns: str, ref: str, pod: str, revision: int | None, error: str | None = None, *,
           app: str, generation: int | None = None) -> None:
    """``ref``: `kind/name` of the entry object, e.g. `functionlua/app.f`."""
    obj = json.loads(kube.kubectl("get", ref, "-n", ns, "-o", "json").stdout)
    item = projection.item_key(_plural(kube, obj["kind"]), obj["metadata"]["name"])
    value = {"revision": revision, "generation": generation or obj["metadata"]["generation"], "error": error,
             "time": "2026-01-01T00:00:00Z"}
    patch = {"data": {projection.report_key(pod, item): projection.encode({k: v for k, v in value.items()
                                                                           if v is not None})}}
    name = projection.applied_map(app, projection.shard_of(item))
    # the operator creates the map with the app
    wait_for(lambda: kube.kubectl("patch", "configmap", name, "-n", ns, "--type=merge", "-p", json.dumps(patch),
                                  check=False).returncode == 0, what=f"report map {name}")


def _plural(kube, kind: str) -> str:
    for line in kube.kubectl("api-resources", "--api-group=wippy.ai", "--no-headers").stdout.splitlines():
        cols = line.split()
        if cols and cols[-1] == kind:
            return cols[0]
    raise AssertionError(f"no wippy.ai resource of kind {kind}")
