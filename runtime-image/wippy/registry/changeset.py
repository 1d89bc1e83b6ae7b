"""Changeset operations: building deltas, folding them, and ordering by dependency."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Literal

from wippy.registry.entry import Entry

Action = Literal["create", "update", "delete"]
References = Callable[[Entry], AbstractSet[str]]


class ChangesetError(ValueError):
    """A changeset that cannot be folded or ordered; the message names the entries."""

    def __init__(self, message: str, *, entry_ids: list[str] | tuple[str, ...] = ()):
        super().__init__(message)
        self.entry_ids = tuple(entry_ids)


@dataclass(frozen=True)
class Op:
    """One change. ``previous`` is the entry as it was before the op (updates and deletes),
    which is what makes the op reversible; for deletes ``entry`` is the entry removed.
    """

    action: Action
    entry: Entry
    previous: Entry | None = None

    @classmethod
    def create(cls, entry: Entry) -> Op:
        return cls("create", entry)

    @classmethod
    def update(cls, entry: Entry) -> Op:
        return cls("update", entry)

    @classmethod
    def delete(cls, entry: Entry | str) -> Op:
        """Delete by entry or by id; the registry fills in the stored entry."""
        if isinstance(entry, str):
            entry = Entry(entry, kind="")
        return cls("delete", entry)

    @property
    def id(self) -> str:
        return self.entry.id

    def inverse(self) -> Op:
        if self.action == "create":
            return Op("delete", self.entry, self.entry)
        if self.previous is None:
            raise ChangesetError(f"cannot reverse {self.action} of {self.entry.id}: previous entry unknown")
        if self.action == "update":
            return Op("update", self.previous, self.entry)
        return Op("create", self.previous)


def diff(old: Mapping[str, Entry], new: Mapping[str, Entry]) -> list[Op]:
    """The ops turning ``old`` into ``new`` (the reference's ``build_delta``)."""
    ops: list[Op] = []
    for entry_id, entry in new.items():
        before = old.get(entry_id)
        if before is None:
            ops.append(Op("create", entry))
        elif before != entry:
            ops.append(Op("update", entry, before))
    for entry_id, before in old.items():
        if entry_id not in new:
            ops.append(Op("delete", before, before))
    return ops


def squash(ops: Iterable[Op]) -> list[Op]:
    """Fold several ops on one entry into their net effect, keeping first-seen order.

    create+update=create, create+delete=nothing, update+delete=delete,
    delete+create=update; an update that ends where it started is dropped.
    """
    net: dict[str, Op | None] = {}
    for op in ops:
        earlier = net.get(op.id)
        net[op.id] = _fold(earlier, op) if earlier is not None else op
    result = []
    for folded in net.values():
        if folded is None:
            continue
        if folded.action == "update" and folded.previous is not None and folded.previous == folded.entry:
            continue
        result.append(folded)
    return result


def _fold(first: Op, then: Op) -> Op | None:
    pair = (first.action, then.action)
    if pair == ("create", "update"):
        return Op("create", then.entry)
    if pair == ("create", "delete"):
        return None
    if pair == ("update", "update"):
        return Op("update", then.entry, first.previous)
    if pair == ("update", "delete"):
        return Op("delete", first.previous or then.entry, first.previous or then.previous)
    if pair == ("delete", "create"):
        return Op("update", then.entry, first.previous or first.entry)
    raise ChangesetError(f"entry {first.id}: cannot {then.action} after {first.action} in the same changeset")


def order(ops: list[Op], references: References) -> list[Op]:
    """Topologically order ops: an entry is created/updated after what it references,
    and removed (or updated away from a reference) before what it referenced is deleted.
    Ties keep the input order. Raises ChangesetError naming the entries of a cycle.
    """
    index = {op.id: i for i, op in enumerate(ops)}
    after: list[set[int]] = [set() for _ in ops]  # after[i]: ops that must run after op i
    for i, op in enumerate(ops):
        if op.action != "delete":
            for dep in references(op.entry):
                j = index.get(dep)
                if j is not None and j != i and ops[j].action != "delete":
                    after[j].add(i)
        if op.previous is not None and op.action != "create":
            # Whatever this op stops referencing may be deleted only once it is done.
            for dep in references(op.previous):
                j = index.get(dep)
                if j is not None and j != i and ops[j].action == "delete":
                    after[i].add(j)
    pending = [0] * len(ops)
    for targets in after:
        for j in targets:
            pending[j] += 1
    ready = [i for i, n in enumerate(pending) if n == 0]
    heapq.heapify(ready)
    result: list[Op] = []
    while ready:
        i = heapq.heappop(ready)
        result.append(ops[i])
        for j in after[i]:
            pending[j] -= 1
            if pending[j] == 0:
                heapq.heappush(ready, j)
    if len(result) != len(ops):
        stuck = {i for i, n in enumerate(pending) if n > 0}
        # Drop entries that merely wait behind a cycle so the message names the cycle.
        while sinks := {i for i in stuck if not after[i] & stuck}:
            stuck -= sinks
        names = sorted(ops[i].id for i in stuck)
        raise ChangesetError(f"dependency cycle between entries: {', '.join(names)}", entry_ids=names)
    return result
