"""What the watches have shown, indexed by group, id and name, so that one event re-evaluates only
what depends on it (the operator must stay linear in the number of entries).

An entry belongs to every WippyApp of its namespace whose selector matches its labels; one that
no app selects is grouped with the entries of its wippy.ai/app label value, so that references
are checked among them before their app exists. Which apps select an entry is worked out when
the entry changes (against the few apps of its namespace) and, for the whole namespace, when an
app's selector changes (rare).

Handlers run in kopf's thread pool. The state lock guards these dicts only and is never held
across an API call; reconciling one object is serialized by that object's own lock, and a thread
holds at most one object lock at a time, so there is no lock order to get wrong.
"""
from __future__ import annotations

import itertools
import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import NamedTuple

from pydantic import ValidationError

from wippy.kube.crds import APP_LABEL, WippyAppSpec
from wippy.kube.selectors import LabelSelector

EntryKey = tuple[str, str, str]  # (namespace, plural, object name)
AppKey = tuple[str, str]  # (namespace, WippyApp name)


class Group(NamedTuple):
    """Entries whose references resolve among each other and whose readiness is counted together."""
    namespace: str
    name: str | None  # the WippyApp's name; else the wippy.ai/app label value (None: unlabelled)
    app: bool  # True: the entries the WippyApp selects; False: entries no WippyApp selects

    def app_key(self) -> AppKey:
        """(namespace, WippyApp name) of a group of app."""
        if not self.app or self.name is None:
            raise ValueError(f"{self} is not the group of a WippyApp")
        return (self.namespace, self.name)


class Summary(NamedTuple):
    """What an app's status reads of one of its entries."""
    ready: bool
    observed: bool  # its status is of its current generation
    http: tuple[str, str] | None  # (entry id, addr) of an http.service entry
    version: tuple  # what its part of the app's version is computed from


class Tally:
    """An app's count of its entries, kept up to date as they come, change and go: a pass over
    thousands of entries at each app status write was a tenth of the operator's CPU in a burst.
    ``stamp`` moves whenever what an app version is made of may have changed (from one counter
    for all tallies, so that a stamp is never seen twice)."""

    _stamps = itertools.count(1)

    def __init__(self) -> None:
        self.members: dict[EntryKey, Summary] = {}
        self.http: dict[EntryKey, tuple[str, str]] = {}
        self.ready = 0
        self.unobserved = 0
        self.stamp = 0

    def put(self, key: EntryKey, summary: Summary) -> None:
        old = self.members.get(key)
        if old is not None:
            self._count(old, -1)
        self.members[key] = summary
        self._count(summary, 1)
        if summary.http:
            self.http[key] = summary.http
        else:
            self.http.pop(key, None)
        if old is None or old.version != summary.version:
            self.stamp = next(self._stamps)

    def drop(self, key: EntryKey) -> None:
        old = self.members.pop(key, None)
        if old is not None:
            self._count(old, -1)
            self.http.pop(key, None)
            self.stamp = next(self._stamps)

    def _count(self, s: Summary, sign: int) -> None:
        self.ready += sign * s.ready
        self.unobserved += sign * (not s.observed)


class AppCount(NamedTuple):
    entries: int
    ready: int
    unobserved: int  # entries whose status is not of their current generation
    http: dict[str, str]  # http.service entry id -> addr
    stamp: int


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_KEPT_METADATA = ("name", "namespace", "uid", "generation", "resourceVersion", "creationTimestamp", "labels")


def essentials(obj: dict) -> dict:
    """What the operator reads of an object. Kept for every entry, so without managedFields and
    kubectl's last-applied copy, which together are most of an object's size."""
    meta = obj.get("metadata") or {}
    kept = {k: meta[k] for k in _KEPT_METADATA if k in meta}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != LAST_APPLIED}
    if annotations:
        kept["annotations"] = annotations
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": kept,
            "spec": obj.get("spec"), "status": obj.get("status")}


def app_of(body: dict | None) -> str | None:
    return labels_of(body).get(APP_LABEL)


def labels_of(body: dict | None) -> dict[str, str]:
    return ((body or {}).get("metadata") or {}).get("labels") or {}


def entry_id(body: dict) -> str | None:
    return (body.get("spec") or {}).get("id")


def valid_spec(body: dict) -> WippyAppSpec | None:
    try:
        return WippyAppSpec.model_validate(body.get("spec") or {})
    except ValidationError:
        return None


class State:
    def __init__(self, summarize: Callable[[dict], Summary]) -> None:
        self._summarize = summarize
        self._lock = threading.Lock()
        self._object_locks: dict[tuple, threading.Lock] = {}
        self.entries: dict[EntryKey, dict] = {}
        self.apps: dict[AppKey, dict] = {}  # WippyApp bodies
        self.specs: dict[AppKey, WippyAppSpec] = {}  # of the apps whose spec is valid (an invalid one selects nothing)
        self.pods: dict[AppKey, set[str]] = {}  # live runtime pods of an app
        self._selectors: dict[str, dict[str, LabelSelector]] = defaultdict(dict)  # ns -> app name -> selector
        self._groups: dict[EntryKey, frozenset[Group]] = {}
        self._in_ns: dict[str, set[EntryKey]] = defaultdict(set)
        self._members: dict[Group, set[EntryKey]] = defaultdict(set)
        self._ids: dict[Group, Counter] = defaultdict(Counter)
        self._by_id: dict[tuple[str, str | None], set[EntryKey]] = defaultdict(set)  # (ns, spec.id) -> entries
        # entries whose last check failed for want of another entry (a missing reference, an id
        # collision): a membership change re-checks these, not the whole group
        self._blocked: dict[Group, set[EntryKey]] = defaultdict(set)
        # who references an id: when an entry goes, or leaves a group, these are re-checked
        self._references: dict[EntryKey, frozenset[str]] = {}
        self._referrers: dict[tuple[str, str], set[EntryKey]] = defaultdict(set)  # (ns, id) -> entries
        # entries being checked (their references registered, the verdict not yet in) or blocked:
        # an entry that comes or changes its id re-checks those of them that reference it, so a
        # check that looked before it came is redone (see `waiting_on`)
        self._unsettled: set[EntryKey] = set()
        self._tallies: dict[Group, Tally] = defaultdict(Tally)  # of app groups
        self._summaries: dict[EntryKey, Summary] = {}

    def object_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            lock = self._object_locks.get(key)
            if lock is None:
                lock = self._object_locks[key] = threading.Lock()
            return lock

    # ------------------------------------------------------------------ entries
    def put_entry(self, key: EntryKey, body: dict) -> tuple[dict | None, frozenset[Group], frozenset[Group]]:
        """Store the newest body of an entry object; returns the one it replaces, and the groups
        the entry was in before and is in now."""
        body = essentials(body)
        summary = self._summarize(body)
        with self._lock:
            old = self.entries.get(key)
            before: frozenset[Group] = frozenset()
            if old is not None:
                before = self._unindex(key, old)
            self.entries[key] = body
            self._summaries[key] = summary
            after = self._index(key, body)
            self._retally(key, before, after)
            return old, before, after

    def drop_entry(self, key: EntryKey) -> frozenset[Group]:
        """Forget an entry object; returns the groups it was in."""
        with self._lock:
            old = self.entries.pop(key, None)
            if old is None:
                return frozenset()
            self._object_locks.pop(key, None)
            self._set_references(key, frozenset())
            self._unsettled.discard(key)
            groups = self._unindex(key, old)
            self._retally(key, groups, frozenset())
            self._summaries.pop(key, None)
            return groups

    def _retally(self, key: EntryKey, before: frozenset[Group], after: frozenset[Group]) -> None:
        for group in before - after:
            if group.app:
                self._tallies[group].drop(key)
                if not self._tallies[group].members:
                    del self._tallies[group]
        for group in after:
            if group.app:
                self._tallies[group].put(key, self._summaries[key])

    def app_count(self, group: Group) -> AppCount:
        with self._lock:
            tally = self._tallies.get(group)
            if tally is None:
                return AppCount(0, 0, 0, {}, 0)
            http = dict(v for _, v in sorted(tally.http.items()))
            return AppCount(len(tally.members), tally.ready, tally.unobserved, http, tally.stamp)

    def groups_of(self, key: EntryKey) -> frozenset[Group]:
        with self._lock:
            return self._groups.get(key, frozenset())

    def _select(self, ns: str, body: dict) -> frozenset[Group]:
        labels = labels_of(body)
        apps = [name for name, sel in self._selectors.get(ns, {}).items() if sel.matches(labels)]
        return frozenset(Group(ns, name, True) for name in apps) or frozenset({Group(ns, app_of(body), False)})

    def _index(self, key: EntryKey, body: dict) -> frozenset[Group]:
        groups = self._groups[key] = self._select(key[0], body)
        for group in groups:
            self._members[group].add(key)
            self._ids[group][entry_id(body)] += 1
        self._by_id[(key[0], entry_id(body))].add(key)
        self._in_ns[key[0]].add(key)
        return groups

    def _unindex(self, key: EntryKey, body: dict) -> frozenset[Group]:
        groups = self._groups.pop(key)
        for group in groups:
            self._members[group].discard(key)
            self._blocked[group].discard(key)
            ids = self._ids[group]
            ids[entry_id(body)] -= 1
            if ids[entry_id(body)] <= 0:
                del ids[entry_id(body)]
        self._by_id[(key[0], entry_id(body))].discard(key)
        self._in_ns[key[0]].discard(key)
        return groups

    def set_references(self, key: EntryKey, ids: frozenset[str]) -> None:
        """The ids an entry references, registered before its check looks them up (and settled by
        `set_blocked` with the verdict)."""
        with self._lock:
            if key in self.entries:
                self._set_references(key, ids)
                self._unsettled.add(key)

    def _set_references(self, key: EntryKey, ids: frozenset[str]) -> None:
        old = self._references.pop(key, frozenset())
        for i in old - ids:
            self._referrers[(key[0], i)].discard(key)
        for i in ids - old:
            self._referrers[(key[0], i)].add(key)
        if ids:
            self._references[key] = ids

    def referrers(self, ns: str, ids: set[str | None]) -> set[EntryKey]:
        """Entries of the namespace whose spec references one of these ids."""
        with self._lock:
            return {k for i in ids if i for k in self._referrers.get((ns, i), ())}

    def waiting_on(self, ns: str, entry: str | None) -> set[EntryKey]:
        """What must be checked again now that an object with this id came (it is stored already):
        the other objects that claim the id (one of them collides), and those that reference it
        and are blocked or still being checked. Their registration and this read are ordered by
        the lock: a check that missed the newcomer registered before it was stored, and is found."""
        with self._lock:
            claimants = set(self._by_id.get((ns, entry), ()))
            referrers = self._referrers.get((ns, entry), set()) if entry else set()
            return claimants | (referrers & self._unsettled)

    def members(self, group: Group) -> list[EntryKey]:
        with self._lock:
            return sorted(self._members.get(group, ()))

    def unknown_ids(self, group: Group, ids: frozenset[str]) -> set[str]:
        """Those of `ids` that no entry of the group has."""
        with self._lock:
            known = self._ids.get(group) or Counter()
            return {i for i in ids if i not in known}

    def claimants(self, key: EntryKey) -> list[tuple[EntryKey, dict]]:
        """Other objects that claim this object's entry id in a group of its own (an app runs one
        entry per id)."""
        with self._lock:
            body = self.entries[key]
            groups = self._groups.get(key, frozenset())
            return [(k, self.entries[k]) for k in self._by_id.get((key[0], entry_id(body)), ())
                    if k != key and groups & self._groups.get(k, frozenset())]

    def groups_for(self, ns: str, body: dict) -> frozenset[Group]:
        """The groups an object with this body's labels is (or would be) in."""
        with self._lock:
            return self._select(ns, body)

    def claiming(self, ns: str, entry: str | None, groups: frozenset[Group]) -> list[tuple[EntryKey, dict]]:
        """Objects that claim this entry id in one of these groups."""
        with self._lock:
            return [(k, self.entries[k]) for k in self._by_id.get((ns, entry), ())
                    if groups & self._groups.get(k, frozenset())]

    def set_blocked(self, key: EntryKey, blocked: bool) -> None:
        with self._lock:
            (self._unsettled.add if blocked else self._unsettled.discard)(key)
            for group in self._groups.get(key, ()):
                (self._blocked[group].add if blocked else self._blocked[group].discard)(key)

    def blocked(self, groups: frozenset[Group] | set[Group]) -> set[EntryKey]:
        with self._lock:
            return {k for g in groups for k in self._blocked.get(g, ())}

    # ------------------------------------------------------------------ apps
    def put_app(self, key: AppKey, body: dict | None) -> tuple[list[EntryKey], set[Group]]:
        """Store a WippyApp's newest body (None: it was deleted). When that changes which entries
        it selects, the entries of its namespace are re-grouped: returns those whose groups
        changed, and the groups they left or joined."""
        ns, name = key
        spec = valid_spec(body) if body is not None else None
        selector = spec.entry_selector(name) if spec is not None else None
        with self._lock:
            if body is None:
                self.apps.pop(key, None)
            else:
                self.apps[key] = body
            if spec is None:
                self.specs.pop(key, None)
            else:
                self.specs[key] = spec
            if self._selectors[ns].get(name) == selector:
                return [], set()
            if selector is None:
                del self._selectors[ns][name]
            else:
                self._selectors[ns][name] = selector
            moved: list[EntryKey] = []
            touched: set[Group] = set()
            for entry in sorted(self._in_ns.get(ns, ())):
                obj = self.entries[entry]
                if self._select(ns, obj) != self._groups[entry]:
                    before = self._unindex(entry, obj)
                    after = self._index(entry, obj)
                    self._retally(entry, before, after)
                    touched |= before | after
                    moved.append(entry)
            return moved, touched
