"""The names cache (cluster/names.py) against an API server whose answers race its watch: a
Lease read on a create's conflict (409) whose deletion the watch shows before the read returns."""
from __future__ import annotations

from types import SimpleNamespace

from wippy.cluster.names import CONSISTENT, NAME_ANNOTATION, OBJECT_LABEL, Names, object_name
from wippy.kube.api import ApiError


def _lease(name: str, holder: str, uid: str, rv: str) -> dict:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": object_name("t", "name", name), "uid": uid, "resourceVersion": rv,
                         "labels": {"wippy.ai/app": "t", OBJECT_LABEL: "name"},
                         "annotations": {NAME_ANNOTATION: name}},
            "spec": {"holderIdentity": holder}}


class _Api:
    """Create conflicts with the old holder's Lease; reading it, the watch shows it deleted
    (the old holder released the name) before the read's answer comes back."""

    def __init__(self, old: dict):
        self.old = old
        self.names: Names | None = None
        self.creates = 0

    async def create(self, path: str, body: dict) -> dict:
        self.creates += 1
        if self.creates == 1:
            raise ApiError(409, "already exists")
        return {**body, "metadata": {**body["metadata"], "uid": "new", "resourceVersion": "9"}}

    async def get(self, path: str) -> dict:
        assert self.names is not None
        self.names._event("DELETED", self.old)
        return self.old


async def test_a_name_released_while_its_conflict_is_read_is_taken_not_cached_as_held():
    cluster = SimpleNamespace(app="t", namespace="ns", id="node-a", incarnation="i1", peers={}, owner_refs=[])
    old = _lease("svc", "node-b|1.2", "old", "5")
    api = _Api(old)
    names = Names(cluster, api)   # type: ignore[arg-type]
    api.names = names
    names._event("ADDED", old)
    assert names.lookup("svc") == "node-b|1.2"

    assert await names.register("svc", "node-a|3.4", CONSISTENT) is True
    assert names.lookup("svc") == "node-a|3.4"
    assert api.creates == 2
