"""An app's entries as a live source of registry entries (`wippy run --kubernetes`).

The operator projects what the app serves into the ConfigMaps ``<app>-entries-<i>``
(kube/projection.py: the pod may read those and nothing else of its namespace). Each is listed
and watched by name; every change recomputes the desired entries and hands them to
``SyncedSource``, the path the file source takes, so a change is one registry apply (refused
changes keep the last good version, one entry's failure leaves the others alone). Pins are
resolved by the operator: a projected entry is the spec of the revision to serve.

Robustness: any end of a watch (server timeout, ``410 Gone``, API server shutdown, dropped or
silent connection) leads to a fresh list, so nothing missed while disconnected is lost; the
watch timeout is the resync period, so every map is relisted at least that often.

Each pod reports per entry, by JSON merge patch of its own keys of ``<app>-applied-<i>``,
``<pod>_<entry key> = {revision, generation, error, serving, time}``: the revision and generation
it was asked for, and on failure why, with what it still serves. The operator mirrors these
into each entry's ``status.applied.<pod>``.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp

from wippy import metrics
from wippy.kube import projection
from wippy.kube.api import ApiError, KubeApi, pod_namespace
from wippy.kube.manifests import spec_to_entry
from wippy.registry.entry import Entry, SourceLocation
from wippy.registry.registry import Registry
from wippy.registry.source import SyncedSource, SyncReport

log = logging.getLogger("wippy.kube")

DEFAULT_RESYNC = 60.0
_MAX_BACKOFF = 2.0
_PATCHES_IN_FLIGHT = 4
_PAUSE_PER_SYNC = 1.0  # the pause after a sync, per second it took
_MAX_PAUSE = 1.0
_MIN_BURST_PAUSE = 0.05

Key = str  # an entry's key in the app's maps: "<plural>.<object name>"


class _Problem(Exception):
    """Why an item yields no entry this time; its last good entry keeps serving."""


class KubeSource:
    def __init__(self, api: KubeApi, *, namespace: str, app: str, pod_name: str,
                 resync: float = DEFAULT_RESYNC, start_timeout: float = 30.0,
                 on_error: Callable[[str], None] | None = None, origin: str = "kubernetes"):
        self.api = api
        self.namespace = namespace
        self.app = app
        self.pod_name = pod_name
        self.resync = resync
        self.origin = origin
        self._start_timeout = start_timeout
        self._on_error = on_error
        self._maps = f"/api/v1/namespaces/{namespace}/configmaps"
        self._items: dict[object, dict[Key, dict]] = {}  # part of the feed (a map's shard) -> entry key -> item
        self._texts: dict[object, dict[Key, str]] = {}  # a map's data as last read (its items decoded from it)
        self._last_ids: dict[Key, str] = {}  # entry key -> entry id it last produced
        self._good: dict[Key, tuple[int | None, int | None]] = {}  # entry key -> (revision, generation) applied
        self._decoded: dict[Key, tuple[tuple, Entry]] = {}  # entry key -> ((uid, generation, revision), entry)
        self._reported: dict[Key, dict] = {}  # entry key -> what this pod last reported
        self._reported_in: dict[Key, int] = {}  # entry key -> the applied map (its index) it was reported in
        self._dirty = asyncio.Event()
        self._synced = asyncio.Event()
        self._patches = asyncio.Semaphore(_PATCHES_IN_FLIGHT)
        self._tasks: dict[str, asyncio.Task] = {}
        self._sync: SyncedSource | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, registry: Registry) -> None:
        """Follow the app's maps and apply; returns once the first sync ran (or ``start_timeout``
        passed: the API server may be down, the watches keep trying)."""
        if self._sync is not None:
            raise RuntimeError("KubeSource already started")
        self._sync = SyncedSource(registry, origin=self.origin, owns=self._owns, on_error=self._on_error)
        await self._start_feed()
        self._spawn("sync", self._sync_loop())
        try:
            await asyncio.wait_for(self._synced.wait(), self._start_timeout)
        except TimeoutError:
            log.warning("%s: no complete listing of app %s after %gs; applying entries as they arrive",
                        self._maps, self.app, self._start_timeout)

    def served_revisions(self) -> dict[str, int]:
        """Entry id -> the revision of it this pod applied last."""
        return {self._last_ids[key]: rev for key, (rev, _) in self._good.items()
                if rev is not None and key in self._last_ids}

    @property
    def synced(self) -> bool:
        """Whether the first complete listing of the app's entries has been applied."""
        return self._synced.is_set()

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        await self.api.close()

    def _spawn(self, name: str, coro) -> None:
        self._tasks[name] = asyncio.create_task(coro, name=f"wippy-kube:{name}")

    def _owns(self, entry: Entry) -> bool:
        return entry.source is not None and entry.source.file.startswith(self.namespace + "/")

    # ------------------------------------------------------------------ watches
    async def _start_feed(self) -> None:
        for shard in range(projection.SHARDS):
            self._spawn(f"watch:{shard}", self._follow(shard))

    def _complete(self) -> bool:
        """Whether every part of the feed has been listed once (a partial first view would
        start half an app)."""
        return len(self._items) >= projection.SHARDS

    async def _follow(self, shard: int) -> None:
        name = projection.entries_map(self.app, shard)
        by_name = f"metadata.name={name}"  # the Role names this object: list and watch it by name
        delay = 0.1
        while True:
            try:
                listing = await self.api.get(self._maps, fieldSelector=by_name)
                found = listing.get("items") or []
                self._take(shard, found[0] if found else None)
                delay = 0.1
                async for ev in self.api.watch(self._maps, fieldSelector=by_name, allowWatchBookmarks=True,
                                               resourceVersion=listing["metadata"]["resourceVersion"],
                                               timeoutSeconds=max(1, int(self.resync))):
                    kind, obj = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":  # 410 Gone and the like: our resourceVersion is no use now
                        log.info("watch of %s ended: %s", name, obj.get("message"))
                        metrics.WATCH_RESTARTS.labels("expired").inc()
                        break
                    if kind != "BOOKMARK":
                        self._take(shard, None if kind == "DELETED" else obj)
                # whatever ended the stream, relist: the events in between may be gone
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection refused/reset, timeouts, 5xx, 403 before the Role exists
                log.warning("watching %s: %s; relisting in %.1fs", name, e or type(e).__name__, delay)
                metrics.WATCH_RESTARTS.labels("error").inc()
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)

    def _take(self, shard: int, obj: dict | None) -> None:
        """A map's newest data: only the values that changed are decoded again."""
        data: dict[Key, str] = (obj or {}).get("data") or {}
        old_texts, old_items = self._texts.get(shard, {}), self._items.get(shard, {})
        if shard in self._items and data == old_texts:
            return
        items = {}
        for key, text in data.items():
            item = old_items.get(key) if old_texts.get(key) == text else None
            if item is None:
                item = projection.decode(text)
            if item is not None and isinstance(item.get("spec"), dict):
                items[key] = item
        self._texts[shard] = data
        self._put(shard, items)

    def _put(self, part: object, items: dict[Key, dict]) -> None:
        if self._items.get(part) != items or part not in self._items:
            self._items[part] = items
            self._dirty.set()

    # ------------------------------------------------------------------ sync
    async def _sync_loop(self) -> None:
        pause = 0.0
        while True:
            # a change already waiting when a pause ends: a burst is streaming in, and the pauses
            # double (up to _MAX_PAUSE) so it is applied and reported in a few large batches
            pause = min(max(pause * 2, _MIN_BURST_PAUSE), _MAX_PAUSE) if self._dirty.is_set() else 0.0
            await self._dirty.wait()
            self._dirty.clear()
            if not self._synced.is_set() and not self._complete():
                continue
            started = time.perf_counter()
            try:
                report = await self.sync_now()
                metrics.SYNCS.labels("ok" if report.ok else "error").inc()
            except Exception:
                metrics.SYNCS.labels("error").inc()
                log.exception("syncing app %s from %s failed", self.app, self._maps)
            took = time.perf_counter() - started
            metrics.SYNC_SECONDS.observe(took)
            self._synced.set()
            # a sync looks at every entry: while a burst of changes streams in, the changes that
            # arrive during this pause are taken in one sync (a small app's pause is a moment)
            await asyncio.sleep(min(max(took * _PAUSE_PER_SYNC, pause), _MAX_PAUSE))

    async def sync_now(self) -> SyncReport:
        assert self._sync is not None
        snapshot = {k: item for items in self._items.values() for k, item in items.items()}
        desired, served, problems = self._desired(snapshot)
        report = await self._sync.sync(desired)
        await self._report(snapshot, served, problems, report.errors)
        return report

    def _desired(self, snapshot: dict[Key, dict]):
        assert self._sync is not None
        registry = self._sync.registry
        desired: dict[str, Entry] = {}
        served: dict[Key, Entry] = {}
        problems: dict[Key, str] = {}
        claimed: dict[str, Key] = {}
        # the oldest object keeps an id that two objects claim
        for key in sorted(snapshot, key=lambda k: (str(snapshot[k].get("created") or ""), k)):
            item = snapshot[key]
            try:
                entry = self._entry_of(key, item)
            except _Problem as e:
                problems[key] = str(e)
                kept = registry.get(self._last_ids.get(key, ""))
                if kept is not None and kept.id not in claimed:
                    desired[kept.id] = kept
                    claimed[kept.id] = key
                continue
            if entry.id in claimed:
                problems[key] = f"entry id {entry.id} is already defined by {claimed[entry.id]}"
                continue
            claimed[entry.id] = key
            desired[entry.id] = entry
            served[key] = entry
            self._last_ids[key] = entry.id
        for key in set(self._last_ids) - set(snapshot):
            del self._last_ids[key]
        for key in set(self._decoded) - set(snapshot):
            del self._decoded[key]
        return desired, served, problems

    def _entry_of(self, key: Key, item: dict) -> Entry:
        """The entry an item asks for; decoded again only when it changed, since every sync
        looks at every item."""
        version = (item.get("uid"), item.get("generation"), item.get("revision"))
        known = self._decoded.get(key)
        if known is None or known[0] != version:
            known = self._decoded[key] = (version, self._decode(key, item))
        return known[1]

    def _decode(self, key: Key, item: dict) -> Entry:
        try:
            entry = spec_to_entry(str(item.get("kind") or ""), item["spec"])  # the rule `wippy manifests` uses
        except ValueError as e:
            raise _Problem(str(e)) from None
        plural = key.partition(".")[0]
        where = f"{self.namespace}/{plural}/{item.get('name') or key.partition('.')[2]}"
        return dataclasses.replace(entry, source=SourceLocation(where))

    # ------------------------------------------------------------------ reports
    async def _report(self, snapshot: dict[Key, dict], served: dict[Key, Entry], problems: dict[Key, str],
                      errors: list[str]) -> None:
        """``{revision, generation, error}`` name what the item asks for (the operator compares
        the revision with activeRevision); on error, ``serving`` is what this pod still runs."""
        assert self._sync is not None
        changes: dict[int, dict[str, str | None]] = {}
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        # reported in the applied map of the index of the entries map the item is in: the
        # operator writes a burst's new items into one map, so their reports are one patch too
        shard_in = {k: part for part, items in self._items.items() if isinstance(part, int) for k in items}
        for key, item in snapshot.items():
            attempt = (item.get("revision"), item.get("generation"))
            error = problems.get(key)
            if error is None:
                if self._sync.registry.get(served[key].id) == served[key]:
                    self._good[key] = attempt
                else:
                    error = _error_for(served[key], errors)
            value = {"revision": attempt[0], "generation": attempt[1], "error": error, "serving": None}
            if error is not None and key in self._good:
                value["serving"] = dict(zip(("revision", "generation"), self._good[key]))
            value = _without_nulls(value)
            shard = shard_in.get(key, projection.shard_of(key))
            was_in = self._reported_in.get(key, shard)
            if self._reported.get(key) != value or was_in != shard:
                self._reported[key] = value
                self._reported_in[key] = shard
                changes.setdefault(shard, {})[projection.report_key(self.pod_name, key)] = \
                    projection.encode({**value, "time": now})
                if was_in != shard:   # the item moved to another map: its report moves along
                    changes.setdefault(was_in, {})[projection.report_key(self.pod_name, key)] = None
        for key in set(self._reported) - set(snapshot):  # gone from the app: take back its report
            del self._reported[key]
            shard = self._reported_in.pop(key, projection.shard_of(key))
            changes.setdefault(shard, {})[projection.report_key(self.pod_name, key)] = None
        for key in set(self._good) - set(snapshot):
            del self._good[key]
        await asyncio.gather(*(self._patch_reports(shard, data) for shard, data in changes.items()))

    async def _patch_reports(self, shard: int, data: dict[str, str | None]) -> None:
        name = projection.applied_map(self.app, shard)
        async with self._patches:
            try:
                await self.api.merge_patch(f"{self._maps}/{name}", {"data": data}, field_manager="wippy")
                return
            except ApiError as e:
                log.warning("reporting to %s: %s", name, e)
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                log.warning("reporting to %s: %s", name, e or type(e).__name__)
        # sent again by a sync a little later (the map may not exist yet)
        for key in data:
            self._reported.pop(projection.split_report_key(key)[1], None)
        asyncio.get_running_loop().call_later(1.0, self._dirty.set)


class EntryObjectsSource(KubeSource):
    """The app's entries read straight from the entry objects its label selector matches, for a
    developer's tools (`wippy test --kubernetes`), whose credentials may read them; a pod reads
    its app's projection instead. Each object serves its spec as it is (pins are the operator's
    to resolve, for pods), and nothing is reported."""

    def __init__(self, api: KubeApi, *, selector: str, **kw: Any):
        super().__init__(api, **kw)
        self._selector = selector
        self._plurals: set[str] = set()

    async def _start_feed(self) -> None:
        from wippy.kube.crds import crd_groups
        from wippy.kube.naming import GROUP, VERSION
        base = f"/apis/{GROUP}/{VERSION}"
        try:
            found = (await self.api.get(base)).get("resources", [])
        except ApiError as e:
            if e.status != 404:  # 404: no wippy.ai CRD installed
                raise
            found = []
        kinds = crd_groups()
        for r in found:
            plural, kind = r.get("name", ""), r.get("kind", "")
            if "/" not in plural and kind in kinds and r.get("namespaced", True):
                self._plurals.add(plural)
                self._spawn(f"watch:{plural}", self._follow_kind(f"{base}/namespaces/{self.namespace}/{plural}",
                                                                 plural, kind))
        if not self._plurals:
            self._dirty.set()

    def _complete(self) -> bool:
        return set(self._items) >= self._plurals

    async def _follow_kind(self, path: str, plural: str, kind: str) -> None:
        objects: dict[str, dict] = {}
        delay = 0.1
        while True:
            try:
                listing = await self.api.get(path, labelSelector=self._selector)
                objects = {o["metadata"]["name"]: o for o in listing.get("items", [])}
                self._put(plural, _items(plural, kind, objects))
                async for ev in self.api.watch(path, labelSelector=self._selector, allowWatchBookmarks=True,
                                               resourceVersion=listing["metadata"]["resourceVersion"],
                                               timeoutSeconds=max(1, int(self.resync))):
                    if ev.get("type") == "ERROR":
                        break
                    if ev.get("type") == "BOOKMARK":
                        continue
                    obj = ev.get("object") or {}
                    if ev.get("type") == "DELETED":
                        objects.pop(obj["metadata"]["name"], None)
                    else:
                        objects[obj["metadata"]["name"]] = obj
                    self._put(plural, _items(plural, kind, objects))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("watching %s: %s; relisting in %.1fs", plural, e or type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)

    async def _report(self, *args: Any, **kwargs: Any) -> None:
        """Reports are the app's pods' to make."""


def _items(plural: str, kind: str, objects: dict[str, dict]) -> dict[Key, dict]:
    """Entry objects as the items of a projection (what the operator would hand a pod)."""
    out = {}
    for name, obj in objects.items():
        meta = obj["metadata"]
        out[projection.item_key(plural, name)] = {
            "name": name, "kind": kind, "uid": meta.get("uid"), "generation": meta.get("generation"),
            "created": meta.get("creationTimestamp"), "revision": None, "spec": obj.get("spec") or {}}
    return out


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _error_for(entry: Entry, errors: list[str]) -> str:
    """The sync's errors about this entry: those located at its object, else those naming its id
    (another entry's refusal may name it as what it depends on), else all of them."""
    where = str(entry.source) if entry.source else None
    named = re.compile(re.escape(entry.id) + r"(?![\w.:-])")
    mine = [e for e in errors if where and e.startswith(where + ":")] or [e for e in errors if named.search(e)]
    return "\n".join(mine or errors) or "not applied"


def kubernetes_runtime(*, node_name: str | None = None, app: str | None = None, namespace: str | None = None,
                       resync: float = DEFAULT_RESYNC):
    """A Runtime fed by the app's projected entries, set up as a pod finds itself: POD_NAME and
    POD_NAMESPACE from the downward API, credentials in-cluster or from KUBECONFIG."""
    from wippy.runtime import Runtime, default_node_name

    app = app or os.environ.get("WIPPY_APP")
    if not app:
        raise ValueError("wippy run --kubernetes needs --app APP (or WIPPY_APP)")
    api, config_namespace = KubeApi.from_environment()
    pod = os.environ.get("POD_NAME") or node_name or default_node_name()
    source = KubeSource(api, namespace=pod_namespace(namespace, config_namespace), app=app,
                        pod_name=pod, resync=resync)
    runtime = Runtime(node_name=node_name or pod, persist_history=False, source=source)
    from wippy.cluster.kube import attach
    attach(runtime, api, source.namespace, app)
    return runtime
