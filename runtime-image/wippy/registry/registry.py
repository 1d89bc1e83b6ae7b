"""The versioned registry: validated, dependency-ordered, all-or-nothing changesets.

Kind handlers make the live system match each op; if one refuses, everything
already applied is reversed and neither the entries nor the version change.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

from wippy.registry.changeset import ChangesetError, Op, order, squash
from wippy.registry.entry import Entry
from wippy.registry.errors import (
    ApplyError,
    Conflict,
    EntryError,
    Rejected,
    describe_exception,
)
from wippy.registry.finder import find
from wippy.registry.history import History, VersionInfo
from wippy.registry.patterns import kind_matches
from wippy.registry.snapshot import Snapshot

__all__ = ["ApplyError", "Conflict", "KindHandler", "Registry", "Rejected", "NON_PROPAGATING_KINDS"]

log = logging.getLogger("wippy.registry")

# Registry primitives: stored and versioned, but no handler acts on them.
NON_PROPAGATING_KINDS = frozenset({"registry.entry", "ns.requirement", "ns.dependency", "ns.definition"})

Subscriber = Callable[[int, list[Op]], Awaitable[None] | None]


class KindHandler(Protocol):
    async def apply(self, op: Op) -> None:
        """Make the live system match ``op``; raise Rejected to refuse it."""


class Registry:
    def __init__(
        self,
        history: History,
        *,
        validate: Callable[[Entry], Any] | None = None,
        references: Callable[[Entry], set[str]] | None = None,
        handler_timeout: float | None = 30.0,
    ):
        self._history = history
        self._validate = validate
        self._references_of = references or (lambda entry: set())
        # id -> (entry, its references): references are recomputed only when an entry changes.
        self._refs_cache: dict[str, tuple[Entry, frozenset[str]]] = {}
        self._handler_timeout = handler_timeout
        self._handlers: list[tuple[str, KindHandler]] = []
        self._subscribers: list[Subscriber] = []
        self._lock = asyncio.Lock()
        self._state: Mapping[str, Entry] = MappingProxyType({})
        self._version = 0
        # A registry on a non-empty history must replay it before accepting changes.
        self._loaded = history.head() == 0
        self.boot_errors: list[EntryError] = []

    # -- handlers and subscribers -------------------------------------------------

    def add_handler(self, kind_pattern: str, handler: KindHandler) -> None:
        self._handlers.append((kind_pattern, handler))

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(version, ops)`` after each committed change; returns an unsubscribe."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def _handlers_for(self, kind: str) -> list[KindHandler]:
        if kind in NON_PROPAGATING_KINDS:
            return []
        return [h for pattern, h in self._handlers if kind_matches(pattern, kind)]

    # -- reading -------------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def get(self, entry_id: str) -> Entry | None:
        return self._state.get(entry_id)

    def entries(self) -> list[Entry]:
        return list(self._state.values())

    def find(self, filter: Mapping[str, Any]) -> list[Entry]:
        return find(self._state.values(), filter)

    def references(self, entry: Entry) -> frozenset[str]:
        """Full ids ``entry`` depends on."""
        return self._refs(entry)

    def snapshot(self) -> Snapshot:
        return Snapshot(self._version, self._state)

    def versions(self) -> list[VersionInfo]:
        return self._history.versions()

    def changes_of(self, version_id: int) -> list[Op]:
        try:
            return self._history.changes_of(version_id)
        except KeyError:
            raise ApplyError.single(f"unknown registry version {version_id}", kind="NotFound") from None

    def snapshot_at(self, version_id: int) -> Snapshot:
        if version_id == self._version:
            return self.snapshot()
        return Snapshot(version_id, self._replay(version_id))

    # -- boot ------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild state from history up to HEAD and bring every entry up through the
        handlers, without writing versions. Rejections are collected in ``boot_errors``.
        """
        async with self._lock:
            if self._state or self._version:
                raise RuntimeError("load() rebuilds the registry at boot; it has already been loaded or changed")
            head = self._history.head()
            state = self._replay(head)
            ops = [Op("create", e) for e in state.values()]
            try:
                ops = order(ops, self._refs)
            except ChangesetError as e:
                log.error("registry boot: %s; starting entries in stored order", e)
            self.boot_errors = []
            for op in ops:
                try:
                    await self._transition([op])
                except ApplyError as e:
                    self.boot_errors.extend(e.errors)
                    log.error("registry boot: %s", e)
            self._state = MappingProxyType(state)
            self._version = head
            self._loaded = True

    # -- changing ----------------------------------------------------------------------

    async def apply(self, ops: list[Op], *, origin: str = "api", expected_version: int | None = None) -> int:
        """Apply a changeset atomically and return the new version id.

        A changeset whose ops cancel out changes nothing and returns the current version.
        """
        if not ops:
            raise ApplyError.single("empty changeset", kind="Invalid")
        async with self._lock:
            self._require_loaded()
            if expected_version is not None and expected_version != self._version:
                raise Conflict(expected_version, self._version)
            net = squash(self._resolve(ops))
            if not net:
                return self._version
            new_state = dict(self._state)
            _apply_ops(new_state, net)
            self._check(net, new_state)
            ordered = self._order(net)
            applied = await self._transition(ordered)
            try:
                info = self._history.commit(self._version, origin, ordered)
            except Exception as e:
                await self._revert(applied)
                log.exception("registry: could not record version")
                raise ApplyError.single(f"could not record the version: {describe_exception(e)}",
                                        kind="Internal") from e
            self._commit_state(new_state, info.id, ordered)
        await self._notify(info.id, ordered)
        return info.id

    async def apply_version(self, version_id: int) -> None:
        """Roll back or forward to an existing version; moves HEAD, records no new version."""
        async with self._lock:
            self._require_loaded()
            if version_id == self._version:
                return
            target_path = self._ancestry(version_id)
            current_path = self._ancestry(self._version)
            on_target_path = set(target_path)
            common = next(v for v in current_path if v in on_target_path)
            path_ops: list[Op] = []
            for vid in current_path[: current_path.index(common)]:
                path_ops += [op.inverse() for op in reversed(self._history.changes_of(vid))]
            for vid in reversed(target_path[: target_path.index(common)]):
                path_ops += self._history.changes_of(vid)
            net = squash(path_ops)
            new_state = dict(self._state)
            _apply_ops(new_state, net)
            self._check(net, new_state, check_references=False)
            ordered = self._order(net)
            applied = await self._transition(ordered)
            try:
                self._history.set_head(version_id)
            except Exception as e:
                await self._revert(applied)
                raise ApplyError.single(f"could not move HEAD: {describe_exception(e)}", kind="Internal") from e
            self._commit_state(new_state, version_id, ordered)
        await self._notify(version_id, ordered)

    # -- internals ------------------------------------------------------------------------

    def _commit_state(self, state: dict[str, Entry], version: int, ops: list[Op]) -> None:
        self._state = MappingProxyType(state)
        self._version = version
        for op in ops:
            if op.action == "delete":
                self._refs_cache.pop(op.id, None)

    def _require_loaded(self) -> None:
        if not self._loaded:
            raise RuntimeError("registry history is not empty: call load() before applying changes")

    def _ancestry(self, version_id: int) -> list[int]:
        """``[version_id, parent, ..., 0]``."""
        parents = {v.id: v.parent for v in self._history.versions()}
        if version_id != 0 and version_id not in parents:
            raise ApplyError.single(f"unknown registry version {version_id}", kind="NotFound")
        chain = [version_id]
        while chain[-1] != 0:
            chain.append(parents[chain[-1]])
        return chain

    def _replay(self, version_id: int) -> dict[str, Entry]:
        """The entries at ``version_id``, rebuilt from the empty registry."""
        state: dict[str, Entry] = {}
        for vid in reversed(self._ancestry(version_id)[:-1]):
            _apply_ops(state, self._history.changes_of(vid))
        return state

    def _resolve(self, ops: list[Op]) -> list[Op]:
        """Check each op against the state it will meet and record what it replaces."""
        state = dict(self._state)
        resolved: list[Op] = []
        errors: list[EntryError] = []
        kind = "Invalid"
        for op in ops:
            current = state.get(op.id)
            if op.action == "create":
                if current is not None:
                    errors.append(EntryError(op.id, "already exists", op.entry.source))
                    kind = "AlreadyExists"
                    continue
                new = Op("create", op.entry.copy())
            elif current is None:
                errors.append(EntryError(op.id, f"cannot {op.action}: no such entry", op.entry.source))
                kind = "NotFound"
                continue
            elif op.action == "update":
                new = Op("update", op.entry.copy(), current)
            elif op.action == "delete":
                new = Op("delete", current, current)
            else:
                errors.append(EntryError(op.id, f"unknown action {op.action!r}", op.entry.source))
                continue
            _apply_ops(state, [new])
            resolved.append(new)
        if errors:
            raise ApplyError(errors, kind=kind if len(errors) == 1 else "Invalid")
        return resolved

    def _check(self, ops: list[Op], new_state: Mapping[str, Entry], *, check_references: bool = True) -> None:
        errors: list[EntryError] = []
        if self._validate is not None:
            for op in ops:
                if op.action == "delete":
                    continue
                try:
                    self._validate(op.entry)
                except Exception as e:
                    errors.append(EntryError(op.id, describe_exception(e), op.entry.source))
        if check_references:
            deleted = {op.id for op in ops if op.action == "delete"}
            if deleted:
                for entry in new_state.values():
                    for target in sorted(self._refs(entry) & deleted):
                        prev = self._state[target]
                        errors.append(EntryError(
                            target, f"cannot delete: still referenced by {entry.id}"
                            + (f" ({entry.source})" if entry.source else ""), prev.source))
        if errors:
            raise ApplyError(errors, kind="Invalid")

    def _refs(self, entry: Entry) -> frozenset[str]:
        cached = self._refs_cache.get(entry.id)
        if cached is not None and cached[0] is entry:
            return cached[1]
        refs = frozenset(self._references_of(entry))
        self._refs_cache[entry.id] = (entry, refs)
        return refs

    def _order(self, ops: list[Op]) -> list[Op]:
        try:
            return order(ops, self._refs)
        except ChangesetError as e:
            sources = {op.id: op.entry.source for op in ops}
            errors = [EntryError(i, str(e), sources.get(i)) for i in e.entry_ids] or [EntryError(None, str(e))]
            raise ApplyError(errors, kind="Invalid") from None

    async def _transition(self, ops: list[Op]) -> list[tuple[KindHandler, Op]]:
        """Run ops through their handlers; on any failure undo what ran and raise."""
        applied: list[tuple[KindHandler, Op]] = []
        for op in ops:
            for handler, step in self._dispatch(op):
                try:
                    await self._call(handler, step)
                except Exception as e:
                    if not isinstance(e, Rejected):
                        log.exception("registry: handler failed on %s of %s", step.action, step.id)
                    await self._revert(applied)
                    source = op.entry.source or (op.previous.source if op.previous else None)
                    raise ApplyError([EntryError(op.id, describe_exception(e), source)],
                                     kind="Rejected" if isinstance(e, Rejected) else "Internal") from e
                applied.append((handler, step))
        return applied

    def _dispatch(self, op: Op) -> list[tuple[KindHandler, Op]]:
        # A kind change is, for the handlers, removal under the old kind and creation under the new.
        if op.action == "update" and op.previous is not None and op.previous.kind != op.entry.kind:
            gone = Op("delete", op.previous, op.previous)
            born = Op("create", op.entry)
            return [(h, gone) for h in self._handlers_for(op.previous.kind)] + [
                (h, born) for h in self._handlers_for(op.entry.kind)
            ]
        return [(h, op) for h in self._handlers_for(op.entry.kind)]

    async def _call(self, handler: KindHandler, op: Op) -> None:
        if self._handler_timeout is None:
            await handler.apply(op)
            return
        try:
            await asyncio.wait_for(handler.apply(op), self._handler_timeout)
        except TimeoutError:
            raise Rejected(f"handler did not answer within {self._handler_timeout:g}s") from None

    async def _revert(self, applied: list[tuple[KindHandler, Op]]) -> None:
        for handler, op in reversed(applied):
            try:
                await self._call(handler, op.inverse())
            except Exception:
                log.exception("registry: could not revert %s of %s; live state may differ", op.action, op.id)

    async def _notify(self, version: int, ops: list[Op]) -> None:
        # Called outside the lock so a subscriber may itself apply changes.
        for callback in list(self._subscribers):
            try:
                result = callback(version, ops)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("registry: subscriber failed on version %d", version)


def _apply_ops(state: dict[str, Entry], ops: list[Op]) -> None:
    for op in ops:
        if op.action == "delete":
            state.pop(op.id, None)
        else:
            state[op.id] = op.entry
