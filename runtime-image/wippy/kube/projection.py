"""How an app's entries reach its runtime pods, and how the pods report back, with no right over
any other app's entries (least privilege within one namespace).

RBAC cannot filter by label, so a pod allowed to list or watch entry objects could read every
app's Lua in its namespace, and one allowed to patch their status could forge any app's report.
Instead the operator projects what each app serves into ConfigMaps of that app alone, and the
pod's Role names exactly those objects (``resourceNames``):

- ``<app>-entries-<i>`` (``SHARDS`` of them, written by the operator, read by the pods): one key
  ``<plural>.<object name>`` per entry the app selects, whose value is the entry to serve (its
  object name, CRD kind, uid, generation, creation time, the revision served and its spec;
  pins are resolved by the operator). Sharded so that a large app stays below the 1 MiB object
  limit and one change rewrites a small object. The operator chooses an item's map when it
  first writes it (a burst's new items together) and keeps it there.
- ``<app>-applied-<i>`` (created by the operator, merge-patched by the pods): one key
  ``<pod>_<entry key>`` per entry and pod, in the map of the same index as the entry's
  ``<app>-entries-<i>`` (any map is read), whose value is that pod's report
  ``{revision, generation, error, serving, time}``. The operator counts a report only for an
  entry the app selects, and mirrors it into the entry's ``status.applied.<pod>``.
"""
from __future__ import annotations

import hashlib
import json
import zlib

SHARDS = 16
KIND_LABEL = "wippy.ai/projection"  # "entries" or "applied"
ENTRIES, APPLIED = "entries", "applied"


def shard_of(item: str) -> int:
    """A default map for an item (where the operator wrote it decides)."""
    return zlib.crc32(item.encode()) % SHARDS


def entries_map(app: str, shard: int) -> str:
    return f"{app}-entries-{shard}"


def applied_map(app: str, shard: int) -> str:
    return f"{app}-applied-{shard}"


def map_names(app: str) -> list[str]:
    return [f(app, i) for f in (entries_map, applied_map) for i in range(SHARDS)]


_MAX_KEY = 253
_ROOM_FOR_POD = 64


def item_key(plural: str, name: str) -> str:
    """An entry's key in its app's maps; a long name is hashed so that ``<pod>_<key>`` still fits
    a ConfigMap key (the value carries the name)."""
    key = f"{plural}.{name}"  # object names have no underscore, so a report key splits at its first
    if len(key) + _ROOM_FOR_POD <= _MAX_KEY:
        return key
    return f"{plural}.{name[:100]}.{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def report_key(pod: str, item: str) -> str:
    return f"{pod}_{item}"


def split_report_key(key: str) -> tuple[str, str]:
    """(pod, item key)."""
    pod, _, item = key.partition("_")
    return pod, item


def encode(value: dict) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def decode(text: str) -> dict | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
