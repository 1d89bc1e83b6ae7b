"""Leader election on a `coordination.k8s.io` Lease: what Raft's leader is elsewhere, the API
server (etcd behind it) gives here. The holder renews the Lease; another node takes it when it
expires or, sooner, when the holder's node is gone from the cluster. Every write names the
resourceVersion it read, so two nodes can never both take it."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Callable

from ..kube.api import ApiError, KubeApi

log = logging.getLogger("wippy.cluster.leases")

DURATION = 15        # seconds a holder that stopped renewing keeps the Lease
RENEW = 5.0          # seconds between renewals
RETRY = 2.0          # seconds between attempts of a node that does not hold it


def now_micro() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str | None) -> float:
    if not s:
        return 0.0
    s = s.rstrip("Z")
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S"
    return dt.datetime.strptime(s, fmt).replace(tzinfo=dt.timezone.utc).timestamp()


def leases_path(namespace: str) -> str:
    return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


SQUAT_RETRIES = 3    # times an unlabelled Lease under one of the app's names is removed before giving up


async def remove_unlabelled(api: KubeApi, path: str, lease: dict) -> None:
    """Delete a Lease without the wippy.ai/app label found under one of the app's Lease names:
    the app did not write it (its own are always labelled), someone else who may create Leases in
    the namespace did, and it must not hold a name, lock, singleton or the leadership. Only that
    very object is deleted (uid and resourceVersion preconditions); the chart's Lease policy
    leaves unlabelled Leases to RBAC, which lets the runtime delete them."""
    meta = lease.get("metadata") or {}
    try:
        await api.delete(f"{path}/{meta.get('name')}", {"uid": meta.get("uid"),
                                                        "resourceVersion": meta.get("resourceVersion")})
    except ApiError as e:
        if e.status not in (404, 409):   # gone or changed meanwhile: the next read tells
            raise


def holder_node(identity: str | None) -> str | None:
    """A holder identity is `<node>_<incarnation>`."""
    if not identity:
        return None
    return identity.rsplit("_", 1)[0]


class LeaseElector:
    def __init__(self, cluster, api: KubeApi, name: str, *, labels: dict | None = None,
                 annotations: dict | None = None, on_lead: Callable[[], None] | None = None, on_lose: Callable[[], None] | None = None,
                 duration: int = DURATION, renew: float = RENEW):
        self.cluster, self.api, self.name = cluster, api, name
        self.identity = f"{cluster.id}_{cluster.incarnation}"
        self.labels = {"wippy.ai/app": cluster.app, **(labels or {})}
        self.annotations = dict(annotations or {})
        self.on_lead, self.on_lose = on_lead, on_lose
        self.duration, self.renew = duration, renew
        self.lease: dict | None = None
        self.leading = False
        self.since: float | None = None
        self._wake = asyncio.Event()
        self._foreign = False
        self._squatted = 0     # unlabelled Leases removed under this name in a row
        self._task: asyncio.Task | None = None
        self._hook = lambda node: self._wake.set()

    @property
    def path(self) -> str:
        return f"{leases_path(self.cluster.namespace)}/{self.name}"

    def start(self) -> None:
        self.cluster.on_node_down.append(self._hook)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self, release: bool = True) -> None:
        if self._hook in self.cluster.on_node_down:
            self.cluster.on_node_down.remove(self._hook)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        if self.leading:
            self._set(False)
            if release and self.lease is not None:   # hand over at once instead of after expiry
                spec = dict(self.lease.get("spec") or {})
                spec.pop("holderIdentity", None)
                try:
                    await self.api.replace(self.path, {**self.lease, "spec": spec})
                except Exception as e:
                    log.info("lease %s: not released (%s); it expires", self.name, e)

    def _set(self, leading: bool) -> None:
        if leading == self.leading:
            return
        self.leading = leading
        self.since = self.cluster_time() if leading else None
        log.info("lease %s: %s", self.name, "acquired by this node" if leading else "lost by this node")
        cb = self.on_lead if leading else self.on_lose
        if cb is not None:
            cb()

    @staticmethod
    def cluster_time() -> float:
        import time
        return time.time()

    def _holder_gone(self, identity: str | None, renewed: float) -> bool:
        node = holder_node(identity)
        if node is None:
            return True
        if renewed + self.duration < self.cluster_time():
            return True
        c = self.cluster
        if node == c.id:                 # ours from an earlier start of this pod
            return identity != self.identity
        synced = c.membership is not None and c.membership.synced.is_set()
        return synced and node not in c.members

    async def _attempt(self) -> None:
        try:
            lease = await self.api.get(self.path)
        except ApiError as e:
            if e.status != 404:
                raise
            lease = None
        t = now_micro()
        owner = ((lease or {}).get("metadata", {}).get("labels") or {}).get("wippy.ai/app")
        if lease is not None and owner is None and self._squatted < SQUAT_RETRIES:
            # not written by this app (remove_unlabelled): never taken as held
            self._squatted += 1
            log.warning("lease %s has no wippy.ai/app label (this app did not write it, holder %r): removing it",
                        self.name, (lease.get("spec") or {}).get("holderIdentity"))
            await remove_unlabelled(self.api, leases_path(self.cluster.namespace), lease)
            self._wake.set()
            return
        if lease is not None and owner != self.cluster.app:
            # another app's object under this name (or an unlabelled one that keeps coming back):
            # never taken over
            if not self._foreign:
                self._foreign = True
                why = (f"belongs to app {owner!r}" if owner is not None else
                       f"has no wippy.ai/app label and was written again each time it was removed ({self._squatted} times)")
                log.error("lease %s %s, not to %s: left alone", self.name, why, self.cluster.app)
            self.lease = lease
            self._set(False)
            return
        if lease is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": self.name, "labels": self.labels, "annotations": self.annotations,
                                 "ownerReferences": list(getattr(self.cluster, "owner_refs", []))},
                    "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                             "acquireTime": t, "renewTime": t, "leaseTransitions": 0}}
            self.lease = await self.api.create(leases_path(self.cluster.namespace), body)
            self._squatted = 0
            self._set(True)
            return
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if holder == self.identity:
            lease["spec"] = {**spec, "renewTime": t}
            self.lease = await self.api.replace(self.path, lease)
            self._set(True)
            return
        self.lease = lease
        self._set(False)
        if self._holder_gone(holder, parse_time(spec.get("renewTime"))):
            lease["spec"] = {**spec, "holderIdentity": self.identity, "leaseDurationSeconds": self.duration,
                             "acquireTime": t, "renewTime": t,
                             "leaseTransitions": int(spec.get("leaseTransitions") or 0) + 1}
            self.lease = await self.api.replace(self.path, lease)
            self._set(True)

    async def _run(self) -> None:
        last_ok = self.cluster_time()
        while True:
            try:
                await self._attempt()
                last_ok = self.cluster_time()
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                if e.status != 409:   # 409: another node wrote first; read again
                    log.warning("lease %s: %s", self.name, e)
                else:
                    self._wake.set()
            except Exception as e:
                log.warning("lease %s: %s", self.name, e)
            if self.leading and self.cluster_time() - last_ok > self.duration:
                self._set(False)      # could not renew in time: another node may hold it by now
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.renew if self.leading else RETRY)
            except asyncio.TimeoutError:
                pass

    # ------------------------------------------------------------------ system.raft / system.cluster
    def holder_node(self) -> str | None:
        if self.leading:
            return self.cluster.id
        spec = (self.lease or {}).get("spec") or {}
        return holder_node(spec.get("holderIdentity"))

    def role(self) -> str:
        return "leader" if self.leading else "voter"

    def raft(self, field: str):
        spec = (self.lease or {}).get("spec") or {}
        meta = (self.lease or {}).get("metadata") or {}
        rv = meta.get("resourceVersion") or "0"
        values = {
            "is_leader": self.leading,
            "is_member": True,     # every pod of the app may take the leader Lease
            "role": self.role(),
            "term": int(spec.get("leaseTransitions") or 0),
            "commit_index": int(rv) if rv.isdigit() else 0,
            "stats": {"backend": "kubernetes-lease", "lease": f"{self.cluster.namespace}/{self.name}",
                      "leader": self.holder_node() or "", "holder_identity": spec.get("holderIdentity") or "",
                      "acquire_time": spec.get("acquireTime") or "", "renew_time": spec.get("renewTime") or "",
                      "lease_duration_seconds": str(spec.get("leaseDurationSeconds") or ""),
                      "term": str(spec.get("leaseTransitions") or 0), "state": self.role()},
        }
        return values[field]
