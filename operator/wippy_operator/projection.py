"""The app maps of kube/projection.py from the operator's side: what each app's pods are to serve
(written here, at most once per interval per app, only the keys that changed) and what they
report having applied (read here, counted only for entries the app selects)."""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import kubernetes

from wippy.kube import projection
from wippy.kube.crds import APP_KIND, APP_LABEL
from wippy.kube.naming import API_VERSION

from .coalesce import Coalescer
from .kubeapi import Api
from .state import AppKey, EntryKey

log = logging.getLogger("wippy.operator")
# the size a shard may grow to by taking new items before they go to the next (fewer, larger
# maps per write in a burst; the API server's limit for one object is 1 MiB)
SHARD_BYTES = 256 * 1024
# while entries keep changing (a burst), flushes space out up to this far apart (a lone change
# is written at once): a burst's entries reach the pods in batches of a second's worth
BURST_PAUSE = 1.0


class Projector:
    def __init__(self, api: Callable[[], Api], app_body: Callable[[AppKey], dict | None],
                 member: Callable[[EntryKey, AppKey], bool | None], interval: float = 0.05,
                 on_written: Callable[[list[EntryKey]], None] | None = None):
        """``member(entry, app)``: whether the app selects the entry (None: not seen yet);
        ``on_written(entries)``: after a write, the entries whose items it wrote."""
        self._api = api
        self._on_written = on_written
        self._listed: dict[AppKey, dict[str, str]] = {}  # an app's items as read before its first write
        self._app_body = app_body
        self._member = member
        self._lock = threading.Lock()
        self._wanted: dict[AppKey, dict[str, str]] = defaultdict(dict)  # item key -> encoded item
        self._written: dict[AppKey, dict[int, dict[str, str]]] = {}  # per shard, as on the server
        self._placed: dict[AppKey, dict[str, int]] = {}  # item key -> the shard it is written in
        self._where: dict[EntryKey, set[AppKey]] = {}
        self._entries: dict[tuple[AppKey, str], EntryKey] = {}  # (app, item key) -> entry
        # a flush rewrites whole maps (tens of KB each in a large app, for the API server to store
        # and send to every pod): in a burst, the next waits as long as this one took, so that each
        # carries more entries and there are fewer of them
        self.writer = Coalescer(self._flush, interval=interval, name="wippy-projection", busy_share=0.5,
                                clock=time.monotonic, burst_pause=BURST_PAUSE)

    # ------------------------------------------------------------------ what is wanted
    def project(self, key: EntryKey, items: dict[AppKey, dict]) -> None:
        """The entry as each app that selects it is to serve it (an app left out drops it)."""
        item = projection.item_key(key[1], key[2])
        changed = set()
        with self._lock:
            for app in self._where.get(key, set()) - set(items):
                if self._wanted[app].pop(item, None) is not None:
                    changed.add(app)
                self._entries.pop((app, item), None)
            for app, value in items.items():
                text = projection.encode(value)
                if self._wanted[app].get(item) != text:
                    self._wanted[app][item] = text
                    changed.add(app)
                self._entries[(app, item)] = key
            if items:
                self._where[key] = set(items)
            else:
                self._where.pop(key, None)
        for app in changed:
            self.writer.mark(app)

    def written(self, key: EntryKey) -> bool:
        """Whether every app map that is to hold the entry holds it as last projected."""
        item = projection.item_key(key[1], key[2])
        with self._lock:
            apps = self._where.get(key)
            if not apps:
                return False
            for app in apps:
                shard = self._placed.get(app, {}).get(item)
                if shard is None or (self._written.get(app) or {}).get(shard, {}).get(item) != self._wanted[app].get(item):
                    return False
        return True

    def stored(self, key: EntryKey, apps: set[AppKey]) -> list[dict]:
        """The entry's items as the maps of these apps hold them on the server (an app's maps are
        listed once, until this operator writes them)."""
        item = projection.item_key(key[1], key[2])
        found = []
        for app in sorted(apps):
            written = self._written.get(app)
            if written is not None:
                text = next((data[item] for data in list(written.values()) if item in data), None)
            else:
                if app not in self._listed:
                    self._listed[app] = self._items_on_server(app)
                text = self._listed[app].get(item)
            if text and (decoded := projection.decode(text)):
                found.append(decoded)
        return found

    def first_revisions(self, app: AppKey) -> list[tuple[EntryKey, str | None]]:
        """The entries (and their uid) whose revision 1 the app's maps on the server hold."""
        found = []
        for item, text in self._items_on_server(app).items():
            decoded = projection.decode(text) or {}
            if decoded.get("revision") == 1 and decoded.get("name"):
                found.append(((app[0], item.partition(".")[0], decoded["name"]), decoded.get("uid")))
        return found

    def _items_on_server(self, app: AppKey) -> dict[str, str]:
        """Every item of the app's entry maps, as the server holds them (one list request)."""
        maps = self._api().list("v1", "ConfigMap", app[0],
                                f"{APP_LABEL}={app[1]},{projection.KIND_LABEL}={projection.ENTRIES}")
        return {k: v for m in maps for k, v in (m.get("data") or {}).items()}

    def entry_of(self, app: AppKey, item: str) -> EntryKey | None:
        with self._lock:
            return self._entries.get((app, item))

    def drop_app(self, app: AppKey) -> None:
        """The app is gone: forget its maps and delete them (the garbage collector would, through
        their owner, where one runs)."""
        with self._lock:
            for item in self._wanted.pop(app, {}):
                entry = self._entries.pop((app, item), None)
                if entry is not None:
                    self._where.get(entry, set()).discard(app)
            self._written.pop(app, None)
            self._placed.pop(app, None)
            self._listed.pop(app, None)
        api = self._api()
        for name in projection.map_names(app[1]):
            api.delete("v1", "ConfigMap", app[0], name)

    # ------------------------------------------------------------------ writing
    def _flush(self, app: AppKey) -> None:
        body = self._app_body(app)
        if body is None:
            return
        api = self._api()
        try:
            if app not in self._written:
                self._written[app] = self._read(api, app, body)
                self._listed.pop(app, None)
            with self._lock:
                wanted = dict(self._wanted.get(app, {}))
            written = self._written[app]
            shards = _place(wanted, self._placed.setdefault(app, {}))
            for shard in range(projection.SHARDS):
                want, have = shards.get(shard, {}), written.get(shard, {})
                patch: dict[str, str | None] = {k: v for k, v in want.items() if have.get(k) != v}
                patch.update({k: None for k in have if k not in want})
                if patch:
                    self._write(api, app, body, shard, want, patch)
                    written[shard] = want
                    if self._on_written is not None:
                        with self._lock:
                            keys = [e for k, v in patch.items() if v is not None
                                    if (e := self._entries.get((app, k))) is not None]
                        self._on_written(keys)
        except kubernetes.client.ApiException as e:
            log.warning("projecting the entries of app %s/%s: %s %s; retrying", app[0], app[1], e.status, e.reason)
            self._written.pop(app, None)  # read again: what failed may be half written
            self._placed.pop(app, None)
            threading.Timer(1.0, self.writer.mark, (app,)).start()

    def _write(self, api: Api, app: AppKey, body: dict, shard: int, want: dict, patch: dict) -> None:
        name = projection.entries_map(app[1], shard)
        try:
            api.patch_map(app[0], name, patch)
        except kubernetes.client.ApiException as e:
            if e.status != 404:
                raise
            api.create_map(_map(body, name, projection.ENTRIES, want))

    def _read(self, api: Api, app: AppKey, body: dict) -> dict[int, dict[str, str]]:
        """The app's maps as they are (an operator restarted keeps writing where it was),
        creating the report maps its pods patch; keys of entries it no longer has are dropped."""
        ns, name = app
        found = {m["metadata"]["name"]: m for m in
                 api.list("v1", "ConfigMap", ns, f"{APP_LABEL}={name},{projection.KIND_LABEL}")}
        for shard in range(projection.SHARDS):
            report = projection.applied_map(name, shard)
            if report not in found:
                api.create_map(_map(body, report, projection.APPLIED, {}), exist_ok=True)
        written: dict[int, dict[str, str]] = {}
        placed = self._placed[app] = {}
        for shard in range(projection.SHARDS):
            data = dict((found.get(projection.entries_map(name, shard)) or {}).get("data") or {})
            written[shard] = data
            for item, text in data.items():
                placed.setdefault(item, shard)   # (one in two maps is taken out of the second)
                entry = (ns, item.partition(".")[0], (projection.decode(text) or {}).get("name", ""))
                keep = self._member(entry, app)
                if keep is None:  # not seen yet: kept while the object exists
                    keep = _exists(api, entry, (projection.decode(text) or {}).get("uid"))
                if keep:
                    with self._lock:
                        if item not in self._wanted[app]:
                            self._wanted[app][item] = text
                            self._entries[(app, item)] = entry
                            self._where.setdefault(entry, set()).add(app)
        return written


def _place(wanted: dict[str, str], placed: dict[str, int]) -> dict[int, dict[str, str]]:
    """The items by shard. An item stays in the shard it was first written in; new ones go
    together into the smallest shard (the next when it grows past its share), so that a flush
    in a burst rewrites one or two maps instead of all of them (each write of a map is the
    whole map for the API server to store and send to every pod, and the pods' reports follow
    the same shards)."""
    for item in [i for i in placed if i not in wanted]:
        del placed[item]
    shards: dict[int, dict[str, str]] = defaultdict(dict)
    new = []
    for item, text in wanted.items():
        if item in placed:
            shards[placed[item]][item] = text
        else:
            new.append(item)
    if not new:
        return shards
    size = {s: sum(len(k) + len(v) for k, v in shards.get(s, {}).items()) for s in range(projection.SHARDS)}
    share = max(SHARD_BYTES, 1.25 * (sum(size.values()) + sum(len(i) + len(wanted[i]) for i in new)) / projection.SHARDS)
    target = min(size, key=lambda s: (size[s], s))
    for item in sorted(new):
        grows = len(item) + len(wanted[item])
        if size[target] + grows > share:
            target = min(size, key=lambda s: (size[s], s))
        shards[target][item] = wanted[item]
        placed[item] = target
        size[target] += grows
    return shards


def _exists(api: Api, entry: EntryKey, uid: str | None) -> bool:
    ns, plural, name = entry
    try:
        obj = api.get(f"/apis/{API_VERSION}/namespaces/{ns}/{plural}/{name}")
    except kubernetes.client.ApiException as e:
        if e.status == 404:
            return False
        raise
    return obj["metadata"].get("uid") == uid


def _map(app_body: dict, name: str, role: str, data: dict) -> dict:
    meta = app_body["metadata"]
    owner = {"apiVersion": API_VERSION, "kind": APP_KIND, "name": meta["name"], "uid": meta["uid"],
             "controller": True, "blockOwnerDeletion": True}
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": meta["namespace"], "ownerReferences": [owner],
                         "labels": {APP_LABEL: meta["name"], projection.KIND_LABEL: role,
                                    "app.kubernetes.io/managed-by": "wippy-operator"}},
            "data": data}


class Reports:
    """What each pod of each app reported, from the app's report maps."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._maps: dict[tuple[str, str, str], dict[str, str]] = {}  # (ns, app, map) -> data
        self._items: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)  # (ns, app, item) -> pod -> report
        self._from: dict[tuple[str, str, str, str], str] = {}  # (ns, app, item, pod) -> the map its report is in

    def put(self, ns: str, app: str, name: str, data: dict[str, str]) -> set[str]:
        """A report map's newest data; returns the item keys whose reports changed."""
        with self._lock:
            old = self._maps.get((ns, app, name), {})
            if data:
                self._maps[(ns, app, name)] = dict(data)
            else:
                self._maps.pop((ns, app, name), None)
            changed = set()
            for key in set(old) | set(data):
                if old.get(key) == data.get(key):
                    continue
                pod, item = projection.split_report_key(key)
                value = projection.decode(data[key]) if key in data else None
                reports = self._items[(ns, app, item)]
                if value is None:
                    # a report that moved to another map is not taken back by its removal here
                    if self._from.get((ns, app, item, pod)) in (name, None):
                        reports.pop(pod, None)
                        self._from.pop((ns, app, item, pod), None)
                    if not reports:
                        del self._items[(ns, app, item)]
                else:
                    reports[pod] = value
                    self._from[(ns, app, item, pod)] = name
                changed.add(item)
            return changed

    def of(self, ns: str, app: str, item: str) -> dict[str, dict]:
        with self._lock:
            return dict(self._items.get((ns, app, item), {}))

    def keys_of_pod(self, ns: str, app: str, pod: str) -> dict[str, list[str]]:
        """The report keys a pod left, by map."""
        prefix = pod + "_"
        with self._lock:
            return {name: keys for (n, a, name), data in self._maps.items() if (n, a) == (ns, app)
                    if (keys := [k for k in data if k.startswith(prefix)])}
