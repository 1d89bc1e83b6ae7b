"""One node of a cluster: the pods of one app, found through the API server (membership.py) and
joined by the mesh (mesh.py). Messages, signals, monitors, links, spawn and exec reach pids of
other nodes here; the engines only see the Node's routing.

When a node is gone (its connection lost, or its endpoint gone from the app's peers Service),
every local monitor of one of its processes gets `pid.exit` and every local process linked to
one gets `pid.link.down`, with an Unavailable error "node down: <node>": as Erlang reports a lost
node (noconnection). Requests awaiting it (spawn, exec) fail the same way.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
from typing import Any

from ..engine.errors import INVALID, NOT_FOUND, UNAVAILABLE, WippyError
from ..engine.node import Node, node_of
from . import codec
from .membership import Member
from .mesh import Mesh
from .pg import OPS as PG_OPS, ProcessGroups

log = logging.getLogger("wippy.cluster")

EXIT, LINK_DOWN = "pid.exit", "pid.link.down"


class Cluster:
    def __init__(self, node: Node, *, app: str, namespace: str, key: bytes, uid: str = "",
                 incarnation: str | None = None):
        self.node, self.app, self.namespace, self.uid = node, app, namespace, uid
        self.id = node.name
        self.incarnation = incarnation or os.urandom(8).hex()
        self.mesh = Mesh(self.id, self.incarnation, key, app, self._on_frames, self._on_link, self._on_hello)
        self.mesh.before_send = self._flush_running
        self.members: dict[str, Member] = {}
        self.peers: dict[str, str] = {}          # connected node -> its incarnation
        self._seen: dict[str, str] = {}          # node -> last incarnation met
        self._mons: dict[str, set[tuple[str, str]]] = {}   # node -> {(its pid, local watcher)}
        self._links: dict[str, set[tuple[str, str]]] = {}  # node -> {(local pid, its pid)}
        self._reqs = itertools.count(1)
        self._pending: dict[int, tuple[str, asyncio.Future]] = {}
        self.membership: Any = None
        self.names: Any = None       # names.py, when the API server backs the cluster scopes
        self.leader: Any = None      # leases.py: the app's leader Lease
        self.started_at = time.time()
        self._started_mono = time.monotonic()
        self._down_since: dict[str, float] = {}   # node -> when its connection went (monotonic)
        self.on_node_down: list = []
        self.discover = False        # local.py: members learn of each other over the mesh
        self.owner_refs: list[dict] = []   # kube.py: the app, owner of the Leases this node creates
        node.cluster = self

    # ------------------------------------------------------------------ lifecycle
    async def start(self, host: str, port: int, advertise: str | None = None, serving: bool = True) -> None:
        await self.mesh.start(host, port, advertise, serving)
        log.info("cluster: node %s (app %s) meshes on %s", self.id, self.app, self.mesh.addr)

    async def stop(self) -> None:
        for _, fut in self._pending.values():
            if not fut.done():
                fut.set_exception(WippyError(UNAVAILABLE, "node stopping"))
        await self.mesh.close()

    def set_members(self, members: dict[str, Member]) -> None:
        """The app's live nodes (from the API server): connect to the new, drop the departed."""
        gone = [n for n in self.members if n not in members]
        self.members = dict(members)
        for m in members.values():
            if m.id != self.id:
                self.mesh.peer(m.id, m.addr)
        for n in gone:
            if n != self.id:
                self.mesh.drop(n)
                self._node_down(n, "left the cluster")
                if self.names is not None:
                    self.names.node_left(n)

    # ------------------------------------------------------------------ mesh events
    def _on_hello(self, node: str, incarnation: str, addr: str) -> None:
        if self.discover:
            self._learn({node: addr})
        # a peer dialled us before our membership listed it: answer on a link of our own
        if node not in self.mesh.links:
            self.mesh.peer(node, addr)

    def _learn(self, addrs: dict) -> None:
        """Members told of over the mesh (local.py): the new are added and dialled, and every
        peer hears of them."""
        new = {n: a for n, a in addrs.items() if isinstance(n, str) and isinstance(a, str)
               and n != self.id and (n not in self.members or self.members[n].addr != a)}
        if not new:
            return
        self.set_members({**self.members, **{n: Member(n, "", a, True) for n, a in new.items()}})
        for peer in self.peers:
            self._frame(peer, ["mb", self._addrs()])

    def _addrs(self) -> dict:
        return {self.id: self.mesh.addr, **{m.id: m.addr for m in self.members.values()}}

    def _on_link(self, node: str, incarnation: str | None, state: str) -> None:
        if state == "up":
            old = self._seen.get(node)
            if old is not None and old != incarnation:
                self._node_down(node, "restarted")
                if self.names is not None:
                    self.names.node_left(node, keep_incarnation=incarnation)
            self._seen[node] = incarnation or ""
            self.peers[node] = incarnation or ""
            self._down_since.pop(node, None)
            if self.names is not None:
                self.names.sync_to(node)
            if self.node.pg is not None:
                self.node.pg.sync_to(node)
            if self.discover:
                self._frame(node, ["mb", self._addrs()])
        else:
            self.peers.pop(node, None)
            self._down_since.setdefault(node, time.monotonic())
            self._node_down(node, "connection lost")

    def disconnected_for(self, node: str) -> float:
        """Seconds since this node last had a connection to `node` (0 while it has one)."""
        if node in self.peers:
            return 0.0
        return time.monotonic() - self._down_since.get(node, self._started_mono)

    def _node_down(self, node: str, why: str) -> None:
        err = WippyError(UNAVAILABLE, f"node down: {node} ({why})")
        mons, links = self._mons.pop(node, set()), self._links.pop(node, set())
        for rpid, watcher in mons:
            self.node.route_event(watcher, {"kind": EXIT, "type": EXIT, "from": rpid, "result": {"error": err}})
        for lpid, rpid in links:
            self.node.route_event(lpid, {"kind": LINK_DOWN, "type": LINK_DOWN, "from": rpid, "result": {"error": err}})
        for req, (n, fut) in list(self._pending.items()):
            if n == node and not fut.done():
                self._pending.pop(req, None)
                fut.set_exception(err)
        if mons or links:
            log.warning("cluster: %s; %d monitors and %d links fired", err.message, len(mons), len(links))
        if self.node.pg is not None:
            self.node.pg.node_gone(node)
        for hook in self.on_node_down:
            hook(node)

    # ------------------------------------------------------------------ outgoing
    def _frame(self, node: str, frame: list) -> bool:
        return self.mesh.send(node, frame)

    def _flush_running(self) -> None:
        """Messages the engine in a scheduler pass queued (engine/lua/wire.lua) go before any frame
        sent during the pass: a process's messages, then its exit, in that order."""
        e = self.node.running
        if e is not None and e.wire_pending:
            e.flush_wire()

    def send_wire(self, node: str, host: str, data: bytes) -> None:
        if self.mesh.peer_reads(node, "M"):
            self.mesh.send_queued(node, ["M", host, data])
            return
        for pid, topic, frm, *values in codec.unpacker_of(data):   # a peer of an older version
            for value in values:
                self.mesh.send_queued(node, ["m", pid, topic, frm, value])

    def send(self, pid: str, topic: str, frm: str | None, value: Any, node: str | None = None) -> bool:
        self.mesh.send(node or node_of(pid) or "", ["m", pid, topic, frm, value])
        return True   # fire-and-forget, as locally

    def route_event(self, pid: str, event: dict) -> None:
        node = node_of(pid) or ""   # no node: no link, so nothing is sent
        if event.get("kind") == LINK_DOWN:   # the local end of the link is gone
            self._links.get(node, set()).discard((event.get("from"), pid))
        self._frame(node, ["e", pid, event])

    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool:
        return self._frame(node_of(pid) or "", ["c", pid, frm, reason])

    def terminate(self, pid: str, reason: str) -> bool:
        return self._frame(node_of(pid) or "", ["t", pid, reason])

    def monitor(self, pid: str, watcher: str, on: bool) -> bool:
        node = node_of(pid) or ""   # no node: no link, so nothing is sent
        if on and not self._frame(node, ["mo", pid, watcher, True]):
            self.node.route_event(watcher, {"kind": EXIT, "type": EXIT, "from": pid, "result": {
                "error": WippyError(UNAVAILABLE, f"node down: {node} is not a member of the cluster")}})
            return True
        if on:
            self._mons.setdefault(node, set()).add((pid, watcher))
        else:
            self._mons.get(node, set()).discard((pid, watcher))
            self._frame(node, ["mo", pid, watcher, False])
        return True

    def link(self, pid: str, other: str, on: bool) -> bool:
        node = node_of(pid) or ""   # no node: no link, so nothing is sent
        if on:
            if not self._frame(node, ["l", pid, other, True]):
                raise WippyError(NOT_FOUND, f"no such process {pid}: node {node} is not a member of the cluster")
            self._links.setdefault(node, set()).add((other, pid))
        else:
            self._links.get(node, set()).discard((other, pid))
            self._frame(node, ["l", pid, other, False])
        return True

    async def _request(self, node: str, frame: list) -> Any:
        req = next(self._reqs)
        fut = asyncio.get_running_loop().create_future()
        self._pending[req] = (node, fut)
        if not self._frame(node, [frame[0], req, *frame[1:]]):
            self._pending.pop(req, None)
            raise WippyError(NOT_FOUND, f"node {node} is not a member of the cluster")
        try:
            return await fut
        finally:
            self._pending.pop(req, None)

    async def spawn(self, node: str, entry_id: str, host: str, args: list, *, caller: str | None,
                    monitored: bool, linked: bool, options: dict, name: str | None) -> str:
        opts = dict(options or {})
        if name:
            opts["name"] = name
        pid = await self._request(node, ["sp", entry_id, host, args, caller, monitored, linked, opts])
        if caller:
            if monitored:
                self._mons.setdefault(node, set()).add((pid, caller))
            if linked:
                self._links.setdefault(node, set()).add((caller, pid))
                h = self.node.host_for(caller)
                if h is not None and hasattr(h, "add_link"):
                    h.add_link(caller, pid)
        return pid

    async def exec(self, node: str, entry_id: str, host: str, args: list, options: dict | None) -> Any:
        return await self._request(node, ["ex", entry_id, host, args, dict(options or {})])

    def on_exit(self, pid: str) -> None:
        if self.names is not None:
            self.names.on_exit(pid)

    async def register_name(self, name: str, pid: str, scope: int) -> bool:
        if not isinstance(name, str) or not name:
            raise WippyError(INVALID, "name must be a non-empty string")
        if self.names is None:
            raise WippyError(UNAVAILABLE, "cluster name scopes need the API server")
        return await self.names.register(name, pid, scope)

    async def unregister_name(self, name: str, scope: int, caller: str | None) -> bool:
        if self.names is None:
            return False
        return await self.names.unregister(name, scope, caller)

    def lookup_name(self, name: str) -> str | None:
        return self.names.lookup(name) if self.names is not None else None

    # ------------------------------------------------------------------ incoming
    def _on_frames(self, node: str, frames: list, with_ext: set[int] | None) -> None:
        """The frames of one read from `node`. Messages go to each host in one batch; any other
        frame (an exit event, a cancel, ...) first hands on the messages before it, so a
        receiver sees what one sender sent in the order it was sent."""
        batches: dict[Any, list] = {}
        host_for = self.node.host_for
        last_pid, h = None, None
        for i, frame in enumerate(frames):
            if type(frame) is list and len(frame) == 3 and frame[0] == "M":
                if batches:
                    self._deliver(node, batches)
                    batches = {}
                self._deliver_wire(node, frame[1], frame[2])
                continue
            if type(frame) is list and len(frame) == 5 and frame[0] == "m":
                if frame[1] != last_pid:     # a stream to one process parses its pid once
                    last_pid, h = frame[1], host_for(frame[1])
                if h is None:
                    continue
                batch = batches.get(h)
                if batch is None:
                    batch = batches[h] = []
                value = frame[4]
                if with_ext is not None and i in with_ext and hasattr(h, "deliver_batch"):
                    value = h.to_lua(value)   # holds errors: converted one by one
                batch += (frame[1], frame[2], frame[3], value)
                continue
            if batches:
                self._deliver(node, batches)
                batches = {}
            try:
                self._on_frame(node, frame)
            except Exception:
                log.exception("cluster: a frame from %s failed", node)
        if batches:
            self._deliver(node, batches)

    def _deliver_wire(self, node: str, host: Any, data: Any) -> None:
        """Messages the engine of `node` encoded for `host` (engine/lua/wire.lua)."""
        h = self.node.hosts.get(host) if type(host) is str else None
        if h is None or type(data) is not bytes:
            return
        try:
            bulk = getattr(h, "deliver_wire", None)
            if bulk is not None:
                bulk(data)
                return
            for pid, topic, frm, *values in codec.unpacker_of(data):   # a host that is no Lua engine
                for value in values:
                    h.deliver(pid, topic, frm, value)
        except Exception:
            log.exception("cluster: messages from %s failed", node)

    @staticmethod
    def _deliver(node: str, batches: dict[Any, list]) -> None:
        for h, flat in batches.items():
            try:
                bulk = getattr(h, "deliver_batch", None)
                if bulk is not None:
                    bulk(flat)
                else:
                    for i in range(0, len(flat), 4):
                        h.deliver(flat[i], flat[i + 1], flat[i + 2], flat[i + 3])
            except Exception:
                log.exception("cluster: messages from %s failed", node)

    def _on_frame(self, node: str, frame: Any) -> None:
        if not isinstance(frame, list) or not frame:
            raise WippyError(INVALID, "malformed frame")
        op = frame[0]
        n = self.node
        if op == "m":
            _, pid, topic, frm, value = frame
            h = n.host_for(pid)
            if h is not None:
                h.deliver(pid, topic, frm, value)
        elif op == "e":
            _, pid, ev = frame
            kind, frm = ev.get("kind"), ev.get("from")
            if kind == EXIT:
                self._mons.get(node, set()).discard((frm, pid))
            elif kind == LINK_DOWN:
                self._links.get(node, set()).discard((pid, frm))
            n.route_event(pid, ev)
        elif op == "c":
            _, pid, frm, reason = frame
            n.cancel(pid, frm, reason)
        elif op == "t":
            _, pid, reason = frame
            n.terminate(pid, reason)
        elif op == "mo":
            _, pid, watcher, on = frame
            n.monitor(pid, watcher, on)
        elif op == "l":
            _, pid, other, on = frame
            if on:
                try:
                    n.link(pid, other, True)
                    self._links.setdefault(node, set()).add((pid, other))
                except WippyError as e:
                    self.route_event(other, {"kind": LINK_DOWN, "type": LINK_DOWN, "from": pid,
                                             "result": {"error": e}})
            else:
                self._links.get(node, set()).discard((pid, other))
                n.unlink(pid, other)
        elif op == "sp":
            _, req, entry_id, host, args, caller, monitored, linked, opts = frame
            try:
                pid = n.spawn(entry_id, host, args, caller=caller, monitored=monitored, linked=linked, options=opts)
                if caller and linked:
                    self._links.setdefault(node, set()).add((pid, caller))
                self._frame(node, ["r", req, True, pid])
            except WippyError as e:
                self._frame(node, ["r", req, False, e])
        elif op == "ex":
            _, req, entry_id, host, args, opts = frame
            asyncio.get_running_loop().create_task(self._serve_exec(node, req, entry_id, host, args, opts))
        elif op == "r":
            _, req, ok, value = frame
            item = self._pending.pop(req, None)
            if item is not None and not item[1].done():
                if ok:
                    item[1].set_result(value)
                else:
                    item[1].set_exception(value if isinstance(value, WippyError) else WippyError("", str(value)))
        elif op == "k":   # a tick: the peer is alive (mesh.py)
            pass
        elif op == "mb":
            if self.discover and isinstance(frame[1], dict):
                self._learn(frame[1])
        elif op in PG_OPS:
            ProcessGroups.of(n).on_frame(node, frame)
        elif self.names is not None and self.names.handles(op):
            self.names.on_frame(node, frame)
        else:
            raise WippyError(INVALID, f"unknown frame {op!r}")

    async def _serve_exec(self, node: str, req: int, entry_id: str, host: str, args: list, opts: dict) -> None:
        try:
            value = await self.node.exec(entry_id, host, args, opts)
            self._frame(node, ["r", req, True, value])
        except WippyError as e:
            self._frame(node, ["r", req, False, e])
        except Exception as e:
            self._frame(node, ["r", req, False, WippyError("Internal", f"{type(e).__name__}: {e}")])

    # ------------------------------------------------------------------ system.node / system.cluster
    def member_list(self) -> list[dict]:
        out = [{"id": self.id, "is_local": True, "addr": self.mesh.addr,
                "meta": {"uid": self.uid, "incarnation": self.incarnation, "app": self.app}}]
        for m in sorted(self.members.values(), key=lambda m: m.id):
            if m.id == self.id:
                continue
            meta = {"uid": m.uid, "ready": "true" if m.ready else "false",
                    "connected": "true" if m.id in self.peers else "false"}
            out.append({"id": m.id, "is_local": False, "addr": m.addr, "meta": meta})
        return out
