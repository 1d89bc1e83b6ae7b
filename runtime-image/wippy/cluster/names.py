"""Cluster-wide names and locks.

CONSISTENT and STRONG names and `system.lock` locks are `coordination.k8s.io` Leases of the app,
one per name (holderIdentity: the owner's pid). Creating the Lease is the registration: the API
server (etcd behind it) lets exactly one create of a name succeed, so the first writer wins and
every other gets ALREADY_EXISTS with the owner. Every node keeps all of them in a cache fed by a
watch, so a lookup never asks the API server. A name is released (its Lease deleted, on the
condition that it is still the same object) by the owner's node when the owner exits, and by
any node when the owner's node leaves the app's peers or comes back as a new incarnation.
A STRONG registration is active once every connected node has put it in its cache and said so.

A node that is still a member but cannot be reached is judged by its node Lease
(`<app>-node-<pod>`, renewed every 5 s by the node itself, as a kubelet renews its node Lease):
its names and locks are released once its connection has been lost for GRACE seconds and its
node Lease has not changed for DURATION seconds (as this node observed it, then confirmed by a
read). A node cut off from its peers but still renewing keeps its names: the Lease is the
authority, so a name is never owned twice. A process whose name or lock was released by another
node this way (its node was stalled or cut off) gets a cancel event `name revoked: <name>` (or
`lock revoked: <name>`) once its node sees the release.

EVENTUAL names live on the mesh: the registering node tells every peer (and a peer that connects
later gets all of them). Two registrations of one name resolve alike on every node: the earlier
one (then the smaller pid) wins, and the loser's node sends its process a cancel event with the
reason `name revoked: <name>`. They go with their node.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from ..engine.errors import ALREADY_EXISTS, INVALID, TIMEOUT, UNAVAILABLE, WippyError
from ..engine.node import node_of
from ..kube.api import ApiError, KubeApi, list_then_watch
from .leases import DURATION, SQUAT_RETRIES, holder_node, leases_path, remove_unlabelled

log = logging.getLogger("wippy.cluster.names")

LOCAL, CONSISTENT, EVENTUAL, STRONG = 0, 1, 2, 3
OBJECT_LABEL = "wippy.ai/cluster-object"
_GONE_KEPT = 4096   # deleted Leases' uids remembered, so that a read from before a deletion is not cached
NAME_ANNOTATION = "wippy.ai/name"
INCARNATION_ANNOTATION = "wippy.ai/incarnation"
STRONG_DEADLINE = 10.0
GRACE = 5.0          # seconds a lost connection may take to come back before the node Lease is asked
REAP_EVERY = 1.0


def object_name(app: str, kind: str, name: str) -> str:
    return f"{app}-{kind}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"


def node_lease_name(app: str, node: str) -> str:
    return f"{app}-node-{node}"


class Names:
    def __init__(self, cluster, api: KubeApi | None):
        self.cluster, self.api = cluster, api
        self.app, self.namespace = cluster.app, cluster.namespace
        self.leases: dict[tuple[str, str], dict] = {}    # (kind, name) -> Lease
        self.by_pid: dict[str, set[tuple[str, str]]] = {}
        self.eventual: dict[str, tuple[float, str]] = {}  # name -> (registered at, pid)
        self.synced = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._acks: dict[int, tuple[asyncio.Future, set[str]]] = {}
        self._ack_ids = 0
        self.node_leases: dict[str, tuple[tuple, float]] = {}   # node -> ((holder, renewTime), seen changing at)
        self._deleting: set[str] = set()                         # uids this node is deleting
        self._gone: dict[str, None] = {}   # uids of Leases whose deletion the watch showed (the latest ones)
        self._reaper: asyncio.Task | None = None

    @property
    def path(self) -> str:
        return leases_path(self.namespace)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._watch())
        self._reaper = loop.create_task(self._reap())

    async def close(self) -> None:
        for task in (self._task, self._reaper):
            if task is not None:
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    # ------------------------------------------------------------------ the cache
    def _key(self, lease: dict) -> tuple[str, str] | None:
        meta = lease.get("metadata") or {}
        kind = (meta.get("labels") or {}).get(OBJECT_LABEL)
        name = (meta.get("annotations") or {}).get(NAME_ANNOTATION)
        return (kind, name) if kind in ("name", "lock") and name is not None else None

    def _put(self, lease: dict) -> None:
        key = self._key(lease)
        if key is None:
            self._saw_node_lease(lease)
            return
        if lease["metadata"].get("uid") in self._gone:
            return   # read before its deletion, which the watch has shown since
        old = self.leases.get(key)
        if old is not None:
            old_rv = int((old.get("metadata") or {}).get("resourceVersion") or 0)
            if old_rv > int(lease["metadata"].get("resourceVersion") or 0):
                return   # an older event than what a write of ours already put here
            self._unindex(key, old)
        self.leases[key] = lease
        pid = (lease.get("spec") or {}).get("holderIdentity")
        if pid:
            self.by_pid.setdefault(pid, set()).add(key)

    def _unindex(self, key, lease) -> None:
        pid = (lease.get("spec") or {}).get("holderIdentity")
        keys = self.by_pid.get(pid) if pid else None   # only holders are indexed
        if pid and keys is not None:
            keys.discard(key)
            if not keys:
                del self.by_pid[pid]

    def _drop(self, lease: dict) -> None:
        uid = lease["metadata"].get("uid")
        if uid:
            self._gone[uid] = None
            if len(self._gone) > _GONE_KEPT:
                del self._gone[next(iter(self._gone))]
        key = self._key(lease)
        cur = self.leases.get(key) if key else None
        if key and cur is not None and cur["metadata"].get("uid") == lease["metadata"].get("uid"):
            del self.leases[key]
            self._unindex(key, cur)
            self._revoked(key, cur)

    def _revoked(self, key: tuple[str, str], lease: dict) -> None:
        """A name or lock of a live local process was released by another node (its node was
        taken as gone): the process is told, as the loser of an EVENTUAL conflict is."""
        if lease["metadata"].get("uid") in self._deleting:
            return
        pid = (lease.get("spec") or {}).get("holderIdentity") or ""
        if node_of(pid) != self.cluster.id:
            return
        host = self.cluster.node.host_for(pid)
        if host is None or not getattr(host, "has_process", lambda _p: False)(pid):
            return
        log.warning("names: %s '%s' of %s was released by another node", key[0], key[1], pid)
        self.cluster.node.cancel(pid, None, f"{key[0]} revoked: {key[1]}")

    def _saw_node_lease(self, lease: dict) -> None:
        meta = lease.get("metadata") or {}
        if (meta.get("labels") or {}).get(OBJECT_LABEL) != "node":
            return
        node = (meta.get("annotations") or {}).get(NAME_ANNOTATION)
        if not node:
            return
        spec = lease.get("spec") or {}
        sig = (spec.get("holderIdentity") or "", spec.get("renewTime") or "")
        seen = self.node_leases.get(node)
        if seen is None or seen[0] != sig:
            self.node_leases[node] = (sig, time.monotonic())

    async def _watch(self) -> None:
        await list_then_watch(self._need_api("the names watch"), self.path, f"wippy.ai/app={self.app},{OBJECT_LABEL} in (name,lock,node)",
                              on_list=self._listed, on_event=self._event, log=log,
                              what="names: watch of the app's Leases")

    async def _listed(self, leases: list[dict]) -> None:
        fresh = {key: x for x in leases if (key := self._key(x))}
        for key in [k for k in self.leases if k not in fresh]:
            gone = self.leases.pop(key)
            self._unindex(key, gone)
            self._revoked(key, gone)
        for lease in leases:
            self._put(lease)
        if not self.synced.is_set():
            self.synced.set()
            await self._release_stale_of_self()

    def _event(self, kind: str, obj: dict) -> None:
        if kind == "DELETED":
            self._drop(obj)
        else:
            self._put(obj)

    # ------------------------------------------------------------------ lookups (local reads)
    def lookup(self, name: str) -> str | None:
        lease = self.leases.get(("name", name))
        if lease is not None:
            return (lease.get("spec") or {}).get("holderIdentity")
        ev = self.eventual.get(name)
        return ev[1] if ev is not None else None

    # ------------------------------------------------------------------ writes
    def _body(self, kind: str, name: str, pid: str) -> dict:
        return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": object_name(self.app, kind, name),
                             "labels": {"wippy.ai/app": self.app, OBJECT_LABEL: kind},
                             "annotations": {NAME_ANNOTATION: name,
                                             INCARNATION_ANNOTATION: self._incarnation_of(pid)},
                             "ownerReferences": list(self.cluster.owner_refs)},   # they go with the app
                "spec": {"holderIdentity": pid}}

    def _incarnation_of(self, pid: str) -> str:
        node = node_of(pid)
        if node == self.cluster.id:
            return self.cluster.incarnation
        return self.cluster.peers.get(node or "", "")

    async def _create(self, kind: str, name: str, pid: str, squatted: int = 0) -> tuple[bool, str]:
        """(created, owner)"""
        api = self._need_api("CONSISTENT names and locks")
        obj = object_name(self.app, kind, name)
        try:
            lease = await api.create(self.path, self._body(kind, name, pid))
        except ApiError as e:
            if e.status == 409:
                try:
                    cur = await api.get(f"{self.path}/{obj}")
                except ApiError as e2:
                    if e2.status == 404:   # released meanwhile: try again
                        return await self._create(kind, name, pid, squatted)
                    raise _unavailable(e2) from None
                if (cur.get("metadata") or {}).get("uid") in self._gone:
                    # released while it was being read (the watch showed its deletion meanwhile)
                    return await self._create(kind, name, pid, squatted)
                owner = ((cur.get("metadata") or {}).get("labels") or {}).get("wippy.ai/app")
                if owner is None:
                    # not written by this app (its Leases are always labelled), but by someone
                    # else who may create Leases in the namespace: never taken as held; it is
                    # removed (if still the same object) and the name taken
                    if squatted >= SQUAT_RETRIES:
                        raise WippyError(UNAVAILABLE, f"the Lease {obj} has no wippy.ai/app label (this app did not "
                                                      f"write it) and was written again each time it was removed "
                                                      f"({squatted} times): {kind} '{name}' cannot be taken") from None
                    log.warning("names: the Lease %s of %s '%s' has no wippy.ai/app label (this app did not write "
                                "it, holder %r): removing it", obj, kind, name, (cur.get("spec") or {}).get("holderIdentity"))
                    await remove_unlabelled(api, self.path, cur)
                    return await self._create(kind, name, pid, squatted + 1)
                if owner != self.app:
                    raise WippyError(UNAVAILABLE, f"the Lease {obj} belongs to another app ({owner}): "
                                                  f"{kind} '{name}' cannot be taken") from None
                self._put(cur)
                return False, (cur.get("spec") or {}).get("holderIdentity") or ""
            raise _unavailable(e) from None
        except OSError as e:
            raise _unavailable(e) from None
        self._put(lease)
        return True, pid

    async def _delete(self, lease: dict) -> bool:
        meta = lease["metadata"]
        self._deleting.add(meta["uid"])
        try:
            await self._need_api("CONSISTENT names and locks").delete(f"{self.path}/{meta['name']}",
                                  {"uid": meta["uid"], "resourceVersion": meta["resourceVersion"]})
            self._drop(lease)
        except ApiError as e:
            if e.status in (404, 409):
                return False
            raise _unavailable(e) from None
        except OSError as e:
            raise _unavailable(e) from None
        finally:
            self._deleting.discard(meta["uid"])
        return True

    def _need_api(self, what: str) -> KubeApi:
        if self.api is None:
            raise WippyError(UNAVAILABLE, f"{what} need the API server (the app's pods on Kubernetes); "
                                          "a local cluster (`wippy run --cluster`) has EVENTUAL and LOCAL names")
        return self.api

    async def register(self, name: str, pid: str, scope: int) -> bool:
        if scope == EVENTUAL:
            return self._register_eventual(name, pid)
        if scope not in (CONSISTENT, STRONG):
            raise WippyError(INVALID, f"unknown name scope {scope}")
        self._need_api("CONSISTENT and STRONG names")
        created, owner = await self._create("name", name, pid)
        if not created and owner != pid:
            raise WippyError(ALREADY_EXISTS, f"name '{name}' is already registered to {owner}", False,
                             {"owner": owner})
        if scope == STRONG and created:
            missing = await self._acknowledged(name)
            if missing:
                lease = self.leases.get(("name", name))
                if lease is not None:
                    await self._delete(lease)
                raise WippyError(TIMEOUT, f"name '{name}' was not acknowledged within {STRONG_DEADLINE:g}s by "
                                          f"{', '.join(sorted(missing))}")
        return True

    async def unregister(self, name: str, scope: int, caller: str | None) -> bool:
        if scope == EVENTUAL:
            cur = self.eventual.get(name)
            if cur is None or (caller is not None and cur[1] != caller and node_of(cur[1]) != self.cluster.id):
                return False
            self._drop_eventual(name, cur[1], announce=True)
            return True
        lease = self.leases.get(("name", name))
        if lease is None or self.api is None:
            return False
        if caller is not None and (lease.get("spec") or {}).get("holderIdentity") != caller:
            return False
        return await self._delete(lease)

    async def lock_acquire(self, name: str, pid: str) -> None:
        self._need_api("cluster-wide locks (system.lock)")
        created, owner = await self._create("lock", name, pid)
        if not created:
            who = "this process" if owner == pid else owner
            raise WippyError(ALREADY_EXISTS, f"lock {name} is already held by {who}", False, {"owner": owner})

    async def lock_release(self, name: str, pid: str) -> bool:
        self._need_api("cluster-wide locks (system.lock)")
        lease = self.leases.get(("lock", name))
        if lease is None:
            try:
                lease = await self._need_api("cluster-wide locks (system.lock)").get(
                    f"{self.path}/{object_name(self.app, 'lock', name)}")
            except ApiError as e:
                if e.status == 404:
                    return False
                raise _unavailable(e) from None
            if ((lease.get("metadata") or {}).get("labels") or {}).get("wippy.ai/app") != self.app:
                return False   # not this app's Lease, whatever holder it names
        if (lease.get("spec") or {}).get("holderIdentity") != pid:
            return False
        return await self._delete(lease)

    # ------------------------------------------------------------------ release
    def on_exit(self, pid: str) -> None:
        keys = list(self.by_pid.get(pid, ()))
        for key in keys:
            lease = self.leases.get(key)
            if lease is not None:
                asyncio.get_running_loop().create_task(self._release(lease, f"{pid} exited"))
        for name, (_, owner) in list(self.eventual.items()):
            if owner == pid:
                self._drop_eventual(name, pid, announce=True)

    async def _release(self, lease: dict, why: str) -> None:
        for attempt in range(60):
            try:
                await self._delete(lease)
                return
            except WippyError as e:   # the API server is away: try again until it is back
                if attempt == 0:
                    log.warning("names: releasing %s (%s): %s; retrying", lease["metadata"]["name"], why, e)
                await asyncio.sleep(min(0.2 * (attempt + 1), 2.0))

    def node_left(self, node: str, keep_incarnation: str | None = None) -> None:
        """Release what `node` held (all of it, or what an older incarnation than `keep_incarnation` held)."""
        for _key, lease in list(self.leases.items()):
            holder = (lease.get("spec") or {}).get("holderIdentity") or ""
            inc = ((lease["metadata"].get("annotations") or {}).get(INCARNATION_ANNOTATION)) or ""
            if node_of(holder) == node and (keep_incarnation is None or inc != keep_incarnation):
                asyncio.get_running_loop().create_task(self._release(lease, f"node {node} left"))
        for name, (_, owner) in list(self.eventual.items()):
            if node_of(owner) == node:
                self._drop_eventual(name, owner, announce=False)

    async def _release_stale_of_self(self) -> None:
        self.node_left(self.cluster.id, keep_incarnation=self.cluster.incarnation)

    # ------------------------------------------------------------------ unreachable nodes
    async def _reap(self) -> None:
        """Release what a member holds once it is unreachable and its node Lease has stopped."""
        while self.api is not None:
            await asyncio.sleep(REAP_EVERY)
            holders = {node_of((x.get("spec") or {}).get("holderIdentity") or "") for x in self.leases.values()}
            holders |= {node_of(pid) for _, pid in self.eventual.values()}
            for node in holders:
                if not node or node == self.cluster.id or self.cluster.disconnected_for(node) < GRACE:
                    continue
                try:
                    stale = await self._node_stale(node)
                except Exception as e:   # the API server is away: nothing is released on a guess
                    log.debug("names: node Lease of %s unreadable: %s", node, e)
                    continue
                if stale and self.cluster.disconnected_for(node) >= GRACE:
                    log.warning("names: %s unreachable for %.0fs and its node Lease not renewed for %ds: "
                                "releasing its names and locks", node, self.cluster.disconnected_for(node), DURATION)
                    self.node_left(node)

    async def _node_stale(self, node: str) -> bool:
        now = time.monotonic()
        seen = self.node_leases.get(node)
        if seen is not None and now - seen[1] < DURATION:
            return False
        try:
            lease = await self._need_api("node Leases").get(f"{self.path}/{node_lease_name(self.app, node)}")
        except ApiError as e:
            if e.status != 404:
                raise
            lease = None
        if lease is None or ((lease.get("metadata") or {}).get("labels") or {}).get("wippy.ai/app") != self.app:
            # no node Lease of this app (a runtime without one, or an object this app did not
            # write under its name): only the connection's loss tells
            return self.cluster.disconnected_for(node) >= DURATION
        self._saw_node_lease(lease)
        sig, since = self.node_leases[node]
        if holder_node(sig[0]) != node:
            return True          # released at its stop, or never held
        return now - since >= DURATION

    # ------------------------------------------------------------------ STRONG acknowledgements
    async def _acknowledged(self, name: str) -> set[str]:
        peers = set(self.cluster.peers)
        if not peers:
            return set()
        self._ack_ids += 1
        req = self._ack_ids
        fut = asyncio.get_running_loop().create_future()
        self._acks[req] = (fut, set(peers))
        lease = self.leases[("name", name)]
        for node in peers:
            self.cluster.mesh.send(node, ["na", req, lease])
        try:
            await asyncio.wait_for(asyncio.shield(fut), STRONG_DEADLINE)
            return set()
        except asyncio.TimeoutError:
            return set(self._acks[req][1])
        finally:
            self._acks.pop(req, None)

    # ------------------------------------------------------------------ EVENTUAL
    def _register_eventual(self, name: str, pid: str) -> bool:
        cur = self.eventual.get(name)
        if cur is not None and cur[1] == pid:
            return True
        if cur is not None:
            raise WippyError(ALREADY_EXISTS, f"name '{name}' is already registered to {cur[1]}", False,
                             {"owner": cur[1]})
        at = time.time()
        self.eventual[name] = (at, pid)
        for node in list(self.cluster.peers):
            self.cluster.mesh.send(node, ["ev", name, at, pid])
        return True

    def _drop_eventual(self, name: str, pid: str, announce: bool) -> None:
        cur = self.eventual.get(name)
        if cur is None or cur[1] != pid:
            return
        del self.eventual[name]
        if announce:
            for node in list(self.cluster.peers):
                self.cluster.mesh.send(node, ["eu", name, pid])

    def _merge_eventual(self, name: str, at: float, pid: str) -> None:
        cur = self.eventual.get(name)
        if cur is None:
            self.eventual[name] = (at, pid)
            return
        if cur[1] == pid:
            return
        winner, loser = sorted([cur, (at, pid)])
        self.eventual[name] = winner
        if node_of(loser[1]) == self.cluster.id:   # the loser's node tells it
            log.info("names: EVENTUAL name '%s' of %s revoked in favour of %s", name, loser[1], winner[1])
            self.cluster.node.cancel(loser[1], winner[1], f"name revoked: {name}")

    def sync_to(self, node: str) -> None:
        """A peer connected: it gets the EVENTUAL names this node's processes hold."""
        for name, (at, pid) in self.eventual.items():
            if node_of(pid) == self.cluster.id:
                self.cluster.mesh.send(node, ["ev", name, at, pid])

    # ------------------------------------------------------------------ frames
    OPS = frozenset({"na", "nk", "ev", "eu"})

    def handles(self, op: str) -> bool:
        return op in self.OPS

    def on_frame(self, node: str, frame: list) -> None:
        op = frame[0]
        if op == "na":
            _, req, lease = frame
            self._put(lease)
            self.cluster.mesh.send(node, ["nk", req])
        elif op == "nk":
            item = self._acks.get(frame[1])
            if item is not None:
                item[1].discard(node)
                if not item[1] and not item[0].done():
                    item[0].set_result(True)
        elif op == "ev":
            _, name, at, pid = frame
            self._merge_eventual(name, at, pid)
        elif op == "eu":
            _, name, pid = frame
            self._drop_eventual(name, pid, announce=False)


def _unavailable(e: Exception) -> WippyError:
    return WippyError(UNAVAILABLE, f"the API server did not take the change: {e}", True)
