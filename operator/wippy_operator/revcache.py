"""Entries' ControllerRevisions as the operator knows them, without a list call per record.

The ground truth is a kopf index fed by the watch of ControllerRevisions (kopf starts no handler
before every index is filled, so a fresh operator sees the whole history). What this operator has
just written is kept aside until the watch shows it, so a reconcile that follows its own write at
once does not work from the older view.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from wippy.kube.revisions import ENTRY_LABEL

if TYPE_CHECKING:
    import kopf


def slim(body) -> dict:
    """What History needs of a revision (its `data`, the whole spec, stays in the API server)."""
    meta = body["metadata"]
    return {"metadata": {"name": meta["name"], "uid": meta.get("uid"), "labels": dict(meta.get("labels") or {}),
                         "creationTimestamp": meta.get("creationTimestamp"),
                         "ownerReferences": [dict(o) for o in meta.get("ownerReferences") or []]},
            "revision": body["revision"]}


def index_key(namespace: str, labels) -> tuple[str, str]:
    return namespace, labels[ENTRY_LABEL]


class RevisionCache:
    def __init__(self) -> None:
        self.index: kopf.Index | None = None  # (namespace, entry label) -> revisions, set at startup
        self._lock = threading.Lock()
        self._written: dict[tuple[str, str], dict[str, dict | None]] = {}  # key -> name -> rev, None: deleted

    def revisions(self, namespace: str, label: str) -> list[dict]:
        key = (namespace, label)
        seen: dict[str, dict] = \
            {r["metadata"]["name"]: r for r in list(self.index.get(key, ()))} if self.index is not None else {}
        with self._lock:
            written = self._written.get(key)
            if written:
                for name, rev in list(written.items()):
                    if (rev is None) == (name not in seen):
                        del written[name]  # the watch has caught up with this write
                    elif rev is None:
                        seen.pop(name)
                    else:
                        seen[name] = rev
                if not written:
                    del self._written[key]
        return list(seen.values())

    def wrote(self, namespace: str, label: str, name: str, revision: dict | None) -> None:
        with self._lock:
            self._written.setdefault((namespace, label), {})[name] = slim(revision) if revision else None
