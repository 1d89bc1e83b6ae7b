"""What the watches have shown, indexed by app, id and name, so that one event re-evaluates only
what depends on it (the operator must stay linear in the number of entries).

Handlers run in kopf's thread pool. The state lock guards these dicts only and is never held
across an API call; reconciling one object is serialized by that object's own lock, and a thread
holds at most one object lock at a time, so there is no lock order to get wrong.
"""
from __future__ import annotations

import threading
from collections import Counter, defaultdict

from wippy.kube.crds import APP_LABEL

EntryKey = tuple[str, str, str]  # (namespace, plural, object name)
AppKey = tuple[str, str | None]  # (namespace, app label value)


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
    return (((body or {}).get("metadata") or {}).get("labels") or {}).get(APP_LABEL)


def entry_id(body: dict) -> str | None:
    return (body.get("spec") or {}).get("id")


class State:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._object_locks: dict[tuple, threading.Lock] = {}
        self.entries: dict[EntryKey, dict] = {}
        self.apps: dict[AppKey, dict] = {}  # WippyApp bodies
        self.pods: dict[AppKey, set[str]] = {}  # live runtime pods of an app
        self._members: dict[AppKey, set[EntryKey]] = defaultdict(set)
        self._ids: dict[AppKey, Counter] = defaultdict(Counter)
        self._by_name: dict[tuple[str, str], set[str]] = defaultdict(set)  # (ns, name) -> plurals
        # entries whose last check failed for want of another entry (a missing reference, an id
        # collision): a membership change re-checks these, not the whole app
        self._blocked: dict[AppKey, set[EntryKey]] = defaultdict(set)

    def object_lock(self, key: tuple) -> threading.Lock:
        with self._lock:
            lock = self._object_locks.get(key)
            if lock is None:
                lock = self._object_locks[key] = threading.Lock()
            return lock

    # ------------------------------------------------------------------ entries
    def put_entry(self, key: EntryKey, body: dict) -> dict | None:
        """Store the newest body of an entry object; returns the one it replaces."""
        body = essentials(body)
        with self._lock:
            old = self.entries.get(key)
            if old is not None:
                self._unindex(key, old)
            self.entries[key] = body
            self._index(key, body)
            return old

    def drop_entry(self, key: EntryKey) -> dict | None:
        with self._lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self._unindex(key, old)
                self._object_locks.pop(key, None)
            return old

    def _index(self, key: EntryKey, body: dict) -> None:
        app = (key[0], app_of(body))
        self._members[app].add(key)
        self._ids[app][entry_id(body)] += 1
        self._by_name[(key[0], key[2])].add(key[1])

    def _unindex(self, key: EntryKey, body: dict) -> None:
        app = (key[0], app_of(body))
        self._members[app].discard(key)
        self._blocked[app].discard(key)
        ids = self._ids[app]
        ids[entry_id(body)] -= 1
        if ids[entry_id(body)] <= 0:
            del ids[entry_id(body)]
        self._by_name[(key[0], key[2])].discard(key[1])

    def members(self, app: AppKey) -> list[EntryKey]:
        with self._lock:
            return sorted(self._members.get(app, ()))

    def unknown_ids(self, app: AppKey, ids: frozenset[str]) -> set[str]:
        """Those of `ids` that no entry of the app has."""
        with self._lock:
            known = self._ids.get(app) or {}
            return {i for i in ids if i not in known}

    def namesakes(self, key: EntryKey) -> list[dict]:
        """Objects of other kinds with this object's name in its namespace (they claim one id)."""
        with self._lock:
            plurals = self._by_name.get((key[0], key[2]), ())
            return [self.entries[(key[0], p, key[2])] for p in plurals if p != key[1]]

    def set_blocked(self, key: EntryKey, app: AppKey, blocked: bool) -> None:
        with self._lock:
            if key not in self.entries:
                return
            (self._blocked[app].add if blocked else self._blocked[app].discard)(key)

    def blocked(self, app: AppKey) -> list[EntryKey]:
        with self._lock:
            return sorted(self._blocked.get(app, ()))
