"""The cluster of a runtime pod: its identity from the downward API, its key from the app's
mesh Secret, its membership from the API server. Without the key the pod is a single node."""
from __future__ import annotations

import logging
import os
import socket

from ..kube.api import KubeApi
from .cluster import Cluster
from .membership import KubeMembership

log = logging.getLogger("wippy.cluster")

DEFAULT_MESH_PORT = 7950
KEY_ENV = "WIPPY_CLUSTER_KEY"       # from the app's Secret `<app>-mesh` (operator/wippy_operator/children.py)


def mesh_secret(app: str) -> str:
    return f"{app}-mesh"


def advertise_address() -> str:
    ip = os.environ.get("POD_IP")
    if ip:
        return ip
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return "127.0.0.1"


class KubeCluster:
    """Starts and stops a Cluster with the runtime (Runtime.cluster)."""

    def __init__(self, runtime, api: KubeApi, namespace: str, app: str, key: bytes):
        from .leases import LeaseElector
        from .names import NAME_ANNOTATION, OBJECT_LABEL, Names, node_lease_name
        self.runtime, self.api = runtime, api
        self.port = int(os.environ.get("WIPPY_MESH_PORT") or DEFAULT_MESH_PORT)
        self.cluster = Cluster(runtime.node, app=app, namespace=namespace, key=key,
                               uid=os.environ.get("POD_UID", ""))
        self.membership = KubeMembership(api, namespace, app, self.cluster.set_members)
        self.cluster.membership = self.membership
        self.cluster.names = Names(self.cluster, api)
        self.cluster.leader = LeaseElector(self.cluster, api, f"{app}-leader")
        # this node's liveness, read by the others when its connection is lost (names.py)
        self.node_lease = LeaseElector(self.cluster, api, node_lease_name(app, self.cluster.id),
                                       labels={OBJECT_LABEL: "node"}, annotations={NAME_ANNOTATION: self.cluster.id},
                                       on_lose=self._node_lease_lost)
        from .singletons import Singletons
        runtime.supervisor.placement = Singletons(self.cluster, api, runtime.supervisor)

    async def start(self) -> None:
        c = self.cluster
        c.owner_refs = await self._app_owner()
        await c.start("0.0.0.0", self.port, advertise_address(), serving=False)
        self.membership.start()
        self.node_lease.start()
        await c.names.start()
        c.leader.start()

    def serve(self) -> None:
        """The app is loaded: peers' messages and requests are taken from now on."""
        self.cluster.mesh.serve()

    async def _app_owner(self) -> list[dict]:
        """The app's WippyApp as the owner of the Leases this node writes, so that they go with
        the app (Kubernetes' garbage collector). The runtime may not read WippyApps: the owner is
        read off the app's projected entries map, which the operator makes owned by the app."""
        from ..kube.projection import SHARDS, entries_map, applied_map
        c = self.cluster
        why = "none found"
        for name in [f(c.app, i) for f in (entries_map, applied_map) for i in range(SHARDS)]:
            try:   # a shard's map exists once an entry falls in it
                cm = await self.api.get(f"/api/v1/namespaces/{c.namespace}/configmaps/{name}")
            except Exception as e:
                why = str(e)
                continue
            return [{k: o[k] for k in ("apiVersion", "kind", "name", "uid")}
                    for o in (cm.get("metadata") or {}).get("ownerReferences") or [] if o.get("kind") == "WippyApp"]
        log.info("cluster: no map of the app's entries is readable (%s): its Leases have no owner", why)
        return []

    def _node_lease_lost(self) -> None:
        log.warning("cluster: node %s could not renew its node Lease for %ds: a peer that cannot reach it "
                    "may release its names and locks", self.cluster.id, self.node_lease.duration)

    async def stop(self) -> None:
        c = self.cluster
        placement = getattr(self.runtime.supervisor, "placement", None)
        if placement is not None:
            await placement.close()
        await c.leader.close()
        await c.names.close()
        await self.node_lease.close()
        await self.membership.stop()
        await c.stop()


def attach(runtime, api: KubeApi, namespace: str, app: str) -> KubeCluster | None:
    key = os.environ.get(KEY_ENV, "")
    if not key:
        log.info("cluster: no %s (the app's %s Secret): this pod runs as a single node", KEY_ENV, mesh_secret(app))
        return None
    kc = KubeCluster(runtime, api, namespace, app, key.encode())
    runtime.cluster = kc
    return kc
