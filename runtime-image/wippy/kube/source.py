"""An app's entry custom resources as a live source of registry entries (`wippy run --kubernetes`).

Each entry CRD this runtime knows (group wippy.ai) is listed and watched in the pod's namespace,
filtered by the app's label selector (its WippyApp's ``spec.selector``, by default
``wippy.ai/app=<app>``); an object whose labels leave the selector is gone for this pod. Every
change recomputes the desired entries and hands them to ``SyncedSource``, the path the file
source takes, so a change is one registry apply (refused changes keep the last good version, one
object's failure leaves the others alone).

Robustness: any end of a watch (server timeout, ``410 Gone``, API server shutdown, dropped or
silent connection) leads to a fresh list, so nothing missed while disconnected is lost; the
watch timeout is the resync period, so every kind is relisted at least that often.

Pins: an object annotated ``wippy.ai/pin-revision: "N"``, or whose ``status.activeRevision``
differs from ``status.latestRevision``, is served from its ControllerRevision ``<name>-<N>``.

Each pod reports per object, by JSON merge patch of its own key only,
``status.applied.<pod> = {revision, generation, error, serving, time}``: the revision (absent until
the operator has recorded it) and generation it was asked for, and on failure why, with what it
still serves. Null fields are absent (a merge patch deletes them).
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from wippy.kube.api import ApiError, KubeApi, pod_namespace
from wippy.kube.crds import crd_groups, default_selector
from wippy.kube.manifests import spec_to_entry
from wippy.kube.naming import GROUP, VERSION
from wippy.kube.revisions import PIN_ANNOTATION, pinned_revision
from wippy.registry.entry import Entry, SourceLocation
from wippy.registry.registry import Registry
from wippy.registry.source import SyncedSource, SyncReport

log = logging.getLogger("wippy.kube")

DEFAULT_RESYNC = 60.0
_MAX_BACKOFF = 2.0
_PATCHES_IN_FLIGHT = 8

Key = tuple[str, str]  # (plural, object name)


class _Problem(Exception):
    """Why an object yields no entry this time; its last good entry keeps serving."""


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str  # the CRD's kind, e.g. FunctionLua


class KubeSource:
    def __init__(self, api: KubeApi, *, namespace: str, app: str, selector: str, pod_name: str,
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
        self._base = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}"
        self._selector = selector
        self._kinds = crd_groups()  # the entry CRDs of the kinds this runtime knows
        self._resources: dict[str, Resource] = {}
        self._objects: dict[str, dict[str, dict]] = {}  # plural -> name -> object, as last seen
        self._listed: set[str] = set()
        self._last_ids: dict[Key, str] = {}  # object -> entry id it last produced
        self._good: dict[Key, tuple[int | None, int | None]] = {}  # object -> (revision, generation) applied
        self._revisions: dict[str, dict] = {}  # ControllerRevision name -> spec (their data never changes)
        self._decoded: dict[Key, tuple[tuple, Entry]] = {}  # object -> ((uid, generation, pin), entry)
        self._dirty = asyncio.Event()
        self._synced = asyncio.Event()
        self._patches = asyncio.Semaphore(_PATCHES_IN_FLIGHT)
        self._tasks: dict[str, asyncio.Task] = {}
        self._discovered = False
        self._sync: SyncedSource | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self, registry: Registry) -> None:
        """Discover the entry kinds, list them and apply; returns once the first sync ran (or
        ``start_timeout`` passed: the API server may be down, the watches keep trying)."""
        if self._sync is not None:
            raise RuntimeError("KubeSource already started")
        self._sync = SyncedSource(registry, origin=self.origin, owns=self._owns, on_error=self._on_error)
        await self._discover()
        self._dirty.set()
        self._spawn("sync", self._sync_loop())
        self._spawn("resync", self._resync_loop())
        try:
            await asyncio.wait_for(self._synced.wait(), self._start_timeout)
        except TimeoutError:
            log.warning("%s: no complete listing of app %s after %gs; applying entries as they arrive",
                        self._base, self.app, self._start_timeout)

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

    # ------------------------------------------------------------------ discovery and watches
    async def _discover(self) -> bool:
        """Start following every entry CRD that exists now (CRDs installed later are found at
        the next resync); False when the API server could not say."""
        try:
            found = (await self.api.get(f"/apis/{GROUP}/{VERSION}")).get("resources", [])
        except ApiError as e:
            if e.status != 404:  # 404: no wippy.ai CRD installed yet
                log.warning("discovering %s/%s: %s", GROUP, VERSION, e)
                return False
            found = []
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            log.warning("discovering %s/%s: %s", GROUP, VERSION, e or type(e).__name__)
            return False
        for r in found:
            plural, kind = r.get("name", ""), r.get("kind", "")
            if "/" in plural or kind not in self._kinds or not r.get("namespaced", True) or plural in self._resources:
                continue
            res = Resource(plural, kind)
            self._resources[plural] = res
            self._spawn(f"watch:{plural}", self._follow(res))
        self._discovered = True
        return True

    async def _follow(self, res: Resource) -> None:
        path = f"{self._base}/{res.plural}"
        delay = 0.1
        while True:
            try:
                listing = await self.api.get(path, labelSelector=self._selector)
                self._objects[res.plural] = {o["metadata"]["name"]: o for o in listing.get("items", [])}
                self._listed.add(res.plural)
                self._dirty.set()
                delay = 0.1
                async for ev in self.api.watch(path, labelSelector=self._selector, allowWatchBookmarks=True,
                                               resourceVersion=listing["metadata"]["resourceVersion"],
                                               timeoutSeconds=max(1, int(self.resync))):
                    kind, obj = ev.get("type"), ev.get("object") or {}
                    if kind == "ERROR":  # 410 Gone and the like: our resourceVersion is no use now
                        log.info("watch of %s ended: %s", res.plural, obj.get("message"))
                        break
                    if kind == "BOOKMARK":
                        continue
                    objs = self._objects[res.plural]
                    name = obj["metadata"]["name"]
                    if kind == "DELETED":
                        objs.pop(name, None)
                    else:
                        before = objs.get(name)
                        objs[name] = obj
                        if before is not None and _same_but_reports(before, obj):
                            continue   # only conditions or reports moved: nothing to apply or report
                    self._dirty.set()
                # whatever ended the stream, relist: the events in between may be gone
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection refused/reset, timeouts, 5xx, 404 while CRDs reload
                log.warning("watching %s: %s; relisting in %.1fs", res.plural, e or type(e).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF)

    async def _resync_loop(self) -> None:
        delay = 0.1
        while True:
            # until a first discovery succeeds, retry it soon: nothing can be watched before
            await asyncio.sleep(self.resync if self._discovered else delay)
            delay = min(delay * 2, _MAX_BACKOFF)
            if await self._discover():
                self._dirty.set()  # also retries pins whose revision was missing, failed status patches

    # ------------------------------------------------------------------ sync
    async def _sync_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            if not self._synced.is_set() and not (self._discovered and self._listed >= set(self._resources)):
                continue  # a partial first view would start half an app
            try:
                await self.sync_now()
            except Exception:
                log.exception("syncing app %s from %s failed", self.app, self._base)
            self._synced.set()

    async def sync_now(self) -> SyncReport:
        assert self._sync is not None
        snapshot = {(p, n): o for p, objs in self._objects.items() for n, o in objs.items()}
        desired, served, problems, wanted = await self._desired(snapshot)
        report = await self._sync.sync(desired)
        await self._report(snapshot, served, problems, wanted, report.errors)
        return report

    async def _desired(self, snapshot: dict[Key, dict]):
        assert self._sync is not None
        registry = self._sync.registry
        desired: dict[str, Entry] = {}
        served: dict[Key, Entry] = {}
        problems: dict[Key, str] = {}
        wanted: dict[Key, int | None] = {}  # the revision each object asks for, when known
        claimed: dict[str, Key] = {}
        # the oldest object keeps an id that two objects claim
        for key in sorted(snapshot, key=lambda k: (snapshot[k]["metadata"].get("creationTimestamp", ""), k)):
            obj = snapshot[key]
            try:
                pin = _pinned(obj)
                wanted[key] = pin if pin is not None else _latest(obj)
                entry = await self._entry_of(key, obj, pin)
            except _Problem as e:
                problems[key] = str(e)
                kept = registry.get(self._last_ids.get(key, ""))
                if kept is not None and kept.id not in claimed:
                    desired[kept.id] = kept
                    claimed[kept.id] = key
                continue
            if entry.id in claimed:
                problems[key] = f"entry id {entry.id} is already defined by {'/'.join(claimed[entry.id])}"
                continue
            claimed[entry.id] = key
            desired[entry.id] = entry
            served[key] = entry
            self._last_ids[key] = entry.id
        for key in set(self._last_ids) - set(snapshot):
            del self._last_ids[key]
        for key in set(self._decoded) - set(snapshot):
            del self._decoded[key]
        return desired, served, problems, wanted

    async def _entry_of(self, key: Key, obj: dict, pin: int | None) -> Entry:
        """The entry an object asks for; decoded again only when its spec (or pin) changed, since
        every sync looks at every object."""
        meta = obj["metadata"]
        version = (meta.get("uid"), meta.get("generation"), pin)
        known = self._decoded.get(key)
        if known is None or known[0] != version:
            spec = await self._revision_spec(key[1], pin) if pin is not None else obj.get("spec") or {}
            known = self._decoded[key] = (version, self._decode(self._resources[key[0]], key[1], spec))
        return known[1]

    def _decode(self, res: Resource, name: str, spec: dict) -> Entry:
        try:
            entry = spec_to_entry(res.kind, spec)  # the rule `wippy manifests` and the operator use
        except ValueError as e:
            raise _Problem(str(e)) from None
        return dataclasses.replace(entry, source=SourceLocation(f"{self.namespace}/{res.plural}/{name}"))

    async def _revision_spec(self, name: str, revision: int) -> dict:
        cr = f"{name}-{revision}"
        if cr not in self._revisions:
            try:
                got = await self.api.get(f"/apis/apps/v1/namespaces/{self.namespace}/controllerrevisions/{cr}")
            except ApiError as e:
                if e.status == 404:
                    raise _Problem(f"pinned revision {revision} not found (no ControllerRevision {cr})") from None
                raise _Problem(f"reading pinned revision {revision}: {e}") from None
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                raise _Problem(f"reading pinned revision {revision}: {e or type(e).__name__}") from None
            self._revisions[cr] = got.get("data") or {}
        return self._revisions[cr]

    # ------------------------------------------------------------------ status
    async def _report(self, snapshot: dict[Key, dict], served: dict[Key, Entry], problems: dict[Key, str],
                      wanted: dict[Key, int | None], errors: list[str]) -> None:
        """``{revision, generation, error}`` name what the object asks for (the operator compares
        the revision with activeRevision); on error, ``serving`` is what this pod still runs."""
        assert self._sync is not None
        patches = []
        for key, obj in snapshot.items():
            attempt = (wanted.get(key), obj["metadata"].get("generation"))
            error = problems.get(key)
            if error is None:
                if self._sync.registry.get(served[key].id) == served[key]:
                    self._good[key] = attempt
                else:
                    error = _error_for(served[key], errors)
            value = {"revision": attempt[0], "generation": attempt[1], "error": error, "serving": None}
            if error is not None and key in self._good:
                value["serving"] = dict(zip(("revision", "generation"), self._good[key]))
            old = ((obj.get("status") or {}).get("applied") or {}).get(self.pod_name) or {}
            # a merge patch deletes what is null: compare without the nulls
            if _without_nulls(value) != {k: v for k, v in old.items() if k != "time"}:
                patches.append(self._patch_status(key, value))
        for key in set(self._good) - set(snapshot):
            del self._good[key]
        await asyncio.gather(*patches)

    async def _patch_status(self, key: Key, value: dict) -> None:
        plural, name = key
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        body = {"status": {"applied": {self.pod_name: {**value, "time": now.replace("+00:00", "Z")}}}}
        async with self._patches:
            try:
                await self.api.merge_patch(f"{self._base}/{plural}/{name}/status", body)
            except ApiError as e:
                if e.status != 404:  # 404: deleted meanwhile
                    log.warning("reporting status of %s/%s: %s", plural, name, e)
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                log.warning("reporting status of %s/%s: %s", plural, name, e or type(e).__name__)


# what a pod acts on in an object's status (the operator's revision bookkeeping); the rest,
# conditions and the pods' own reports, changes often and asks nothing of the pod
_STATUS_READ = ("observedGeneration", "latestRevision", "activeRevision")


def _same_but_reports(a: dict, b: dict) -> bool:
    """Whether two versions of an object differ only in what the pod does not act on."""
    def essence(o: dict) -> tuple:
        meta = o.get("metadata") or {}
        status = o.get("status") or {}
        return (meta.get("generation"), meta.get("annotations"), meta.get("labels"), o.get("spec"),
                tuple(status.get(k) for k in _STATUS_READ))
    return essence(a) == essence(b)


def _pinned(obj: dict) -> int | None:
    try:
        pin = pinned_revision(obj)
    except ValueError as e:
        raise _Problem(f"{PIN_ANNOTATION}: {e}") from None
    if pin is not None:
        return pin
    status = obj.get("status") or {}
    active, latest = status.get("activeRevision"), status.get("latestRevision")
    if isinstance(active, int) and isinstance(latest, int) and active != latest:
        return active
    return None


def _latest(obj: dict) -> int | None:
    """The operator's latestRevision, once it names this spec (it has seen this generation)."""
    status = obj.get("status") or {}
    if status.get("observedGeneration") == obj["metadata"].get("generation"):
        return status.get("latestRevision")
    return None


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    return value


def _error_for(entry: Entry, errors: list[str]) -> str:
    """The sync's errors that name this entry (its object or its id), else all of them."""
    where = str(entry.source) if entry.source else None
    named = re.compile(re.escape(entry.id) + r"(?![\w.:-])")
    # its own reports first: another entry's may name it ("depends on <id>")
    mine = [e for e in errors if where and e.startswith(where + ":")] or [e for e in errors if named.search(e)]
    return "\n".join(mine or errors) or "not applied"


def kubernetes_runtime(*, node_name: str | None = None, app: str | None = None, namespace: str | None = None,
                       selector: str | None = None, resync: float = DEFAULT_RESYNC):
    """A Runtime fed by the app's custom resources, set up as a pod finds itself: POD_NAME and
    POD_NAMESPACE from the downward API, credentials in-cluster or from KUBECONFIG. ``selector``:
    which entries are the app's, as a label selector string (default: those labelled with the app)."""
    from wippy.runtime import Runtime, default_node_name

    app = app or os.environ.get("WIPPY_APP")
    if not app:
        raise ValueError("wippy run --kubernetes needs --app APP (or WIPPY_APP)")
    api, config_namespace = KubeApi.from_environment()
    pod = os.environ.get("POD_NAME") or node_name or default_node_name()
    if selector is None:
        selector = str(default_selector(app))
    source = KubeSource(api, namespace=pod_namespace(namespace, config_namespace), app=app, selector=selector,
                        pod_name=pod, resync=resync)
    return Runtime(node_name=node_name or pod, persist_history=False, source=source)
