"""Process groups (`pg` module, `pg.scope` entries), after Erlang's pg: a process joins named
groups of a scope (as often as it likes; it leaves as often), and a broadcast reaches every
member. Each node holds its own members and a copy of every peer's, which peers send over the
mesh: each join and leave as it happens, everything when a connection comes up and, every
`anti_entropy_interval`, to one peer in turn. A node that goes takes its members with it, and a
process that exits leaves its groups. Subscribers get `member.joined`/`member.left` events on a
reserved topic of their own (the `pg` module hands them the channel).
"""
from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

from ..engine.errors import INTERNAL, INVALID, WippyError
from ..engine.node import node_of

OPS = frozenset({"pj", "pl", "ps"})


class Scope:
    def __init__(self, groups: "ProcessGroups", scope_id: str, model: Any):
        self.owner, self.id = groups, scope_id
        self.max_groups, self.max_members = model.max_groups, model.max_members_per_group
        self.interval = float(model.anti_entropy_interval)
        self.local: dict[str, Counter] = {}
        self.remote: dict[str, dict[str, Counter]] = {}
        self.subs: dict[str, tuple[str, str | None]] = {}   # topic -> (subscriber pid, group or None: all)
        self._task: asyncio.Task | None = None
        if groups.cluster is not None and self.interval > 0:
            self._task = asyncio.get_running_loop().create_task(self._anti_entropy())

    # ------------------------------------------------------------------ reads
    def members(self, group: str, local_only: bool = False) -> list[str]:
        out = list(self.local.get(group, Counter()).elements())
        if not local_only:
            for groups in self.remote.values():
                out += list(groups.get(group, Counter()).elements())
        return out

    def groups(self, local_only: bool = False) -> list[str]:
        names = {g for g, c in self.local.items() if c}
        if not local_only:
            for groups in self.remote.values():
                names |= {g for g, c in groups.items() if c}
        return sorted(names)

    def snapshot(self) -> dict[str, list[str]]:
        return {g: self.members(g) for g in self.groups()}

    # ------------------------------------------------------------------ events
    def _emit(self, kind: str, group: str, pids: list[str]) -> None:
        if not pids:
            return
        ev = {"system": "pg", "kind": kind, "path": group, "data": {"Group": group, "PIDs": pids}}
        for topic, (pid, want) in list(self.subs.items()):
            if want is None or want == group:
                self.owner.node.send(pid, topic, None, ev)

    # ------------------------------------------------------------------ local changes
    def join(self, pid: str, groups: list[str]) -> None:
        for g in groups:
            if self.max_groups and g not in self.groups() and len(self.groups()) >= self.max_groups:
                raise WippyError(INVALID, f"scope {self.id} has its maximum of {self.max_groups} groups")
            if self.max_members and len(self.members(g)) >= self.max_members:
                raise WippyError(INVALID, f"group {g} of {self.id} has its maximum of {self.max_members} members")
        for g in groups:
            self.local.setdefault(g, Counter())[pid] += 1
            self._emit("member.joined", g, [pid])
            self.owner.announce(["pj", self.id, g, pid])

    def leave(self, pid: str, groups: list[str]) -> bool:
        left = False
        for g in groups:
            c = self.local.get(g)
            if not c or not c[pid]:
                continue
            left = True
            c[pid] -= 1
            if not c[pid]:
                del c[pid]
            if not c:
                del self.local[g]
            self._emit("member.left", g, [pid])
            self.owner.announce(["pl", self.id, g, pid])
        return left

    def exited(self, pid: str) -> None:
        for g in [g for g, c in self.local.items() if c[pid]]:
            for _ in range(self.local[g][pid]):
                self.leave(pid, [g])
        for topic in [t for t, (p, _) in self.subs.items() if p == pid]:
            del self.subs[topic]

    # ------------------------------------------------------------------ peers
    def remote_join(self, node: str, group: str, pid: str, on: bool) -> None:
        groups = self.remote.setdefault(node, {})
        c = groups.setdefault(group, Counter())
        if on:
            c[pid] += 1
            self._emit("member.joined", group, [pid])
        elif c[pid]:
            c[pid] -= 1
            if not c[pid]:
                del c[pid]
            self._emit("member.left", group, [pid])

    def remote_sync(self, node: str, state: dict[str, dict[str, int]]) -> None:
        """A peer's whole membership: apply the difference (only real changes make events)."""
        old = self.remote.get(node, {})
        new = {g: Counter(m) for g, m in state.items()}
        for g in set(old) | set(new):
            before, after = old.get(g, Counter()), new.get(g, Counter())
            gone, came = list((before - after).elements()), list((after - before).elements())
            self._emit("member.left", g, gone)
            self._emit("member.joined", g, came)
        self.remote[node] = new

    def node_gone(self, node: str) -> None:
        self.remote_sync(node, {})
        self.remote.pop(node, None)

    def state(self) -> dict[str, dict[str, int]]:
        return {g: dict(c) for g, c in self.local.items() if c}

    async def _anti_entropy(self) -> None:
        turn = itertools.count()
        while True:
            await asyncio.sleep(self.interval)
            peers = sorted(self.owner.cluster.peers) if self.owner.cluster is not None else []
            if peers:
                self.owner.cluster.mesh.send(peers[next(turn) % len(peers)], ["ps", self.id, self.state()])

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


class ProcessGroups:
    """The scopes of one node (Node.pg)."""

    def __init__(self, node):
        self.node = node
        self.scopes: dict[str, Scope] = {}
        self._subs = itertools.count(1)

    @classmethod
    def of(cls, node) -> "ProcessGroups":
        pg = getattr(node, "pg", None)
        if pg is None:
            pg = node.pg = cls(node)
        return pg

    @property
    def cluster(self):
        return self.node.cluster

    def scope(self, scope_id: str) -> Scope:
        s = self.scopes.get(scope_id)
        if s is not None:
            return s
        entry = self.node.get_entry(scope_id)
        if entry is None or entry.kind != "pg.scope":
            raise WippyError(INTERNAL, f"pg scope {scope_id} not found")
        from ..kinds.models.catalog import validate_entry
        s = self.scopes[scope_id] = Scope(self, scope_id, validate_entry(entry))
        return s

    def subscription_topic(self) -> str:
        return f"@pg:{next(self._subs)}"

    def announce(self, frame: list) -> None:
        c = self.cluster
        if c is not None:
            for node in list(c.peers):
                c.mesh.send(node, frame)

    def on_exit(self, pid: str) -> None:
        for s in self.scopes.values():
            s.exited(pid)

    def node_gone(self, node: str) -> None:
        for s in self.scopes.values():
            s.node_gone(node)

    def sync_to(self, node: str) -> None:
        for s in self.scopes.values():
            self.cluster.mesh.send(node, ["ps", s.id, s.state()])

    def on_frame(self, node: str, frame: list) -> None:
        op, scope_id = frame[0], frame[1]
        try:
            s = self.scope(scope_id)
        except WippyError:
            return    # a scope this node does not have (yet): the next full sync brings it
        if op == "ps":
            s.remote_sync(node, frame[2])
        else:
            _, _, group, pid = frame
            if node_of(pid) == node:
                s.remote_join(node, group, pid, op == "pj")
