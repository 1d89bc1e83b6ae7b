"""`wippy run --cluster`: a few nodes of one app on one machine (or a LAN), for development and
tests, joined by the same mesh as the pods of an app on Kubernetes. There is no API server:
membership starts from seed addresses (each node introduces itself to its seeds, which dial it
back) and grows as the nodes tell each other whom they know; the key is shared by the nodes
(WIPPY_CLUSTER_KEY, else a key file the nodes of one app folder share). Messages, spawn, exec,
monitors, links, EVENTUAL names and process groups work as on Kubernetes. CONSISTENT and STRONG
names and `system.lock` need a linearizable store (the API server): here they fail with
Unavailable. A `placement: singleton` service runs on the connected node with the smallest name
(a development stand-in for the Lease: during a split each side runs one)."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from pathlib import Path

from .cluster import Cluster
from .mesh import BACKOFF, HandshakeError
from .names import Names

log = logging.getLogger("wippy.cluster.local")


def parse_addr(addr: str, what: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"{what} wants HOST:PORT, not {addr!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def shared_key(key_file: Path) -> bytes:
    """The app folder's cluster key (made once, mode 0600) for nodes run from the same folder."""
    key_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_bytes().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return key_file.read_bytes().strip()


class LocalPlacement:
    """Singletons on the connected node with the smallest name (supervisor.placement)."""

    def __init__(self, cluster: Cluster, supervisor):
        self.cluster, self.supervisor = cluster, supervisor
        self.claimed: set[str] = set()
        cluster.on_node_down.append(lambda _node: self.rebalance())

    def holder_node(self) -> str:
        return min([self.cluster.id, *self.cluster.peers])

    def claim(self, service_id: str) -> None:
        self.claimed.add(service_id)
        self.rebalance()

    def rebalance(self) -> None:
        here = self.holder_node() == self.cluster.id
        sup = self.supervisor
        for sid in list(self.claimed):
            svc = sup.services.get(sid)
            if svc is None:
                continue
            running = svc.task is not None and not svc.task.done()
            if here and not running:
                log.info("singleton %s: runs on this node", sid)
                sup.start(sid)
            elif not here and running:
                log.info("singleton %s: stops on this node (%s has the smallest name)", sid, self.holder_node())
                asyncio.get_running_loop().create_task(sup.stop(sid))

    async def release(self, service_id: str) -> None:
        self.claimed.discard(service_id)

    def holder(self, service_id: str) -> str | None:
        return self.holder_node() if service_id in self.claimed else None

    async def close(self) -> None:
        self.claimed.clear()


class LocalCluster:
    """Starts and stops a Cluster with the runtime (Runtime.cluster), without an API server."""

    def __init__(self, runtime, *, app: str, key: bytes, listen: str, seeds: list[str]):
        self.runtime = runtime
        self.host, self.port = parse_addr(listen, "--listen")
        for s in seeds:
            parse_addr(s, "--join")
        self.seeds = seeds
        self.cluster = Cluster(runtime.node, app=app, namespace="", key=key)
        self.cluster.discover = True
        self.cluster.names = Names(self.cluster, None)
        self.placement = LocalPlacement(self.cluster, runtime.supervisor)
        runtime.supervisor.placement = self.placement
        self._tasks: list[asyncio.Task] = []
        orig = self.cluster._on_link

        def on_link(node, inc, state):   # singletons follow who is connected
            orig(node, inc, state)
            self.placement.rebalance()
        self.cluster.mesh.on_link = on_link

    async def start(self) -> None:
        await self.cluster.start(self.host, self.port, self.host, serving=False)
        log.info("cluster: node %s listens on %s; seeds: %s", self.cluster.id, self.cluster.mesh.addr,
                 ", ".join(self.seeds) or "none (the first node)")
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._introduce(seed)) for seed in self.seeds]

    def serve(self) -> None:
        """The app is loaded: peers' messages and requests are taken from now on."""
        self.cluster.mesh.serve()

    async def _introduce(self, seed: str) -> None:
        """Introduce this node to a seed until the seed is connected (then the links keep it)."""
        attempt = 0
        while True:
            try:
                node = await self.cluster.mesh.announce(seed)
                if node == self.cluster.id:
                    return
                for _ in range(50):
                    if node in self.cluster.peers:
                        return
                    await asyncio.sleep(0.1)
            except (OSError, asyncio.TimeoutError, HandshakeError) as e:
                if attempt % 20 == 0:
                    log.info("cluster: seed %s not reached (%s); retrying", seed, str(e) or type(e).__name__)
            await asyncio.sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
            attempt += 1

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await self.placement.close()
        await self.cluster.stop()
