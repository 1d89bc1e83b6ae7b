"""kopf wiring. Level-triggered: every watch event of an entry, a WippyApp or a runtime pod
recomputes the affected objects' status from what is known, and patches only what differs.

Only `@kopf.on.event` is used: it keeps no state on the objects (no annotations, no finalizers
but one on each WippyApp, so deleting an entry never waits for the operator) and it sees status
changes, which is how runtime pods' reports (`status.applied`) reach the Ready condition. The
operator never writes `spec`. A WippyApp's finalizer (FINALIZER) keeps it, and through it its maps
(the garbage collector leaves an owner's dependents while the owner is there), until the entries
that left it have their revision 1 written, which its maps may hold alone.

Objects are reconciled in parallel (kopf's thread pool), each under its own lock (state.py). A
status is written with the resourceVersion it was computed from, so a decision made from an older
view than the API server's is refused (409) and redone on the newer event instead of flapping.

A status that would only say "in progress" waits a moment: a new generation's first for HOLD
seconds (longer in a burst, where the pods' reports take longer and those writes would slow the
burst down further), one in progress already whose message moves on (no app yet -> waiting for
the pods -> rolling out) for HOLD_MOVING. The pods' report usually comes first, and then one
write says Ready instead of two or three (in a burst of thousands of entries, most of the status
writes and of their watch events). What kstatus, Argo CD and Flux conclude never waits: a generation without
its status is in progress to them, and Ready or Stalled is written at once.
"""
from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Set as AbstractSet
from concurrent.futures import ThreadPoolExecutor
from typing import cast

import kopf
import kubernetes
from pydantic import ValidationError

from wippy.kube.crds import APP_LABEL, WippyAppSpec, kinds_by_crd_plural
from wippy.kube.naming import API_VERSION, GROUP, VERSION, plural as plural_of
from wippy.kube.app_history import APP_PIN_ANNOTATION, app_history, entry_key, version_base
from wippy.kube.revisions import (CHANGED_BY, CHANGED_SPEC, ENTRY_LABEL, HASH_LABEL, LATEST_HASH, PIN_ANNOTATION,
                                  RECORDED_AT, History, changed_by, json_body, pinned_revision, revision_name, spec_hash)
from wippy.registry.errors import format_validation_errors

from wippy.kube import projection as maps

from . import checks, children, conditions, metrics, rollout
from .coalesce import Coalescer, Later
from .projection import Projector, Reports
from .kubeapi import Api
from .revcache import RevisionCache, index_key, slim
from .state import AppCount, AppKey, EntryKey, Group, State, Summary, entry_id

log = logging.getLogger("wippy.operator")
PLURALS = kinds_by_crd_plural()
HTTP_SERVICE = "http.service"
LIBRARY = "library.lua"
HANDLER_WORKERS = 8
FANOUT_WORKERS = 16  # re-evaluations of many entries wait mostly on the API server
HOLD = 2.0  # seconds a new generation's "in progress" status waits for the pods' report
HOLD_PER_HELD = 0.05  # and this much longer for each status held already (a burst), up to HOLD_MOVING
HOLD_MOVING = 15.0  # seconds an "in progress" status that only changes its message waits
# on every WippyApp: the operator lets a deleted app go once the entries that left it have their
# revision 1 written, which until then its maps (owned by it, for the garbage collector) may hold alone
FINALIZER = f"{GROUP}/first-revisions"
APP_PROGRESS_EVERY = 5.0  # seconds between writes of an app's status that only count its entries on the way


class Operator:
    """The process-wide pieces the handlers share."""

    def __init__(self) -> None:
        self._api: Api | None = None
        self.history_limit = 10
        self.no_app_grace = 60.0  # seconds an entry waits for a WippyApp to select it before it is Stalled
        self.lua = checks.LuaChecker()
        self.revisions = RevisionCache()
        self.checked: dict[EntryKey, tuple[tuple, checks.Intrinsic]] = {}  # by (uid, generation)
        # the lint of an entry against the libraries it imports, by the (uid, generation) of each
        self.linked: dict[EntryKey, tuple[tuple, checks.Problem | None]] = {}
        self.app_versions: dict[AppKey, tuple[str, str, int]] = {}  # last recorded: (app uid, hash, number)
        # an app's version worked out from its entries as its tally stood: (app uid, tally stamp, number)
        self.app_version_at: dict[AppKey, tuple[str | None, int, int]] = {}
        # an entry's active revision -> its spec hash ((uid, number) names one content for good)
        self.active_hashes: dict[EntryKey, tuple[tuple, str]] = {}
        self.versions_read: dict[tuple, dict] = {}  # (ns, app, uid, number) -> an app version's data
        self.no_app_since: dict[EntryKey, float] = {}  # when an entry was first seen in no app
        # the spec of the pinned revision an entry serves: ((revision name, uid), spec)
        self.revision_specs: dict[EntryKey, tuple[tuple, dict]] = {}
        # entries whose "in progress" status is held back (_held): ((uid, generation), since)
        self.held: dict[EntryKey, tuple[tuple, float]] = {}   # ((uid, generation), until)
        # resourceVersions of an entry that its status writes replaced, whose events are still to come
        self.superseded: dict[EntryKey, set[str | None]] = {}
        # the resourceVersion of an entry's own status write, whose event is still to come
        self.own_writes: dict[EntryKey, str | None] = {}
        # an entry's revision 1 while it has no ControllerRevision: (uid, spec, generation, recorded at, by)
        self.first_copies: dict[EntryKey, tuple] = {}
        # entries whose status is to name such a revision 1 once their app maps hold it
        self.awaiting_projection: set[EntryKey] = set()
        self.projected: Later[EntryKey] = Later(lambda batch: _reevaluate([k for k, _ in batch], [c for _, c in batch]),
                                                name="wippy-projected")
        self.release: Later[EntryKey] = Later(lambda batch: _release(batch), name="wippy-status-hold")
        # entries in no app are looked at again when their grace period ends (one thread for all:
        # a burst applied before its WippyApp made a timer thread per entry)
        self.no_app_due: Later[EntryKey] = Later(lambda batch: _reevaluate([k for k, _ in batch], [c for _, c in batch]),
                                                 name="wippy-no-app-grace")
        # a pass looks at every entry of the app: in a burst, at most a twentieth of the time goes to them
        self.app_status: Coalescer[AppKey] = Coalescer(lambda key: _reconcile_app_locked(key), interval=0.5,
                                                       name="wippy-app-status", busy_share=0.05)
        # an app's status that only counts its entries on the way is written every APP_PROGRESS_EVERY
        # (each write is an event that brings another pass); the count held back is looked at again
        self.app_progress_written: dict[AppKey, float] = {}
        self.app_later: Later[AppKey] = Later(self._mark_apps_due, name="wippy-app-progress")
        # maps of deleted apps, deleted once the entries that left them have their revision 1 written
        self.maps_to_drop: Later[tuple[AppKey, str | None, tuple[EntryKey, ...]]] = Later(
            lambda batch: _retry_drop_maps(batch), name="wippy-drop-maps")
        # apps being deleted (a deletionTimestamp) whose deletion this operator has begun: their uid
        self.apps_deleting: dict[AppKey, str | None] = {}
        # re-evaluating many entries at once (an app or its pods changed) is spread over threads
        self.fanout = ThreadPoolExecutor(max_workers=FANOUT_WORKERS, thread_name_prefix="wippy-fanout")

    def _mark_apps_due(self, batch: list[tuple[AppKey, contextvars.Context]]) -> None:
        for key, _ in batch:
            self.app_status.mark(key)

    @property
    def api(self) -> Api:
        if self._api is None:
            raise RuntimeError("the operator has not started: no Kubernetes API client yet")
        return self._api

    @api.setter
    def api(self, api: Api) -> None:
        self._api = api


STATE = State(lambda body: _summary(body))   # defined below
OP = Operator()


def _member(entry: EntryKey, app: AppKey) -> bool | None:
    if entry not in STATE.entries:
        return None
    return Group(*app, True) in STATE.groups_of(entry)


def _projection_written(keys: list[EntryKey]) -> None:
    for key in keys:
        if key in OP.awaiting_projection:
            OP.projected.mark(key, 0)


PROJECTOR = Projector(lambda: OP.api, STATE.apps.get, _member, on_written=_projection_written)
REPORTS = Reports()
metrics.count_entries_with(lambda: _count_entries())  # defined below; called at scrape time


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **kwargs) -> None:   # kopf passes each index by its name
    settings.posting.level = logging.WARNING  # Kubernetes Events only for problems
    settings.execution.max_workers = HANDLER_WORKERS
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.persistence.progress_storage = NoProgress()
    # a watch whose connection dies without a close (API server restart) is redone, not awaited forever
    settings.watching.connect_timeout = 10
    settings.watching.server_timeout = 50
    settings.watching.client_timeout = 60
    settings.watching.inactivity_timeout = 60
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    config = kubernetes.client.Configuration.get_default_copy()
    # one connection per thread that may call the API (kopf's pool, the fan-out, the app status)
    config.connection_pool_maxsize = HANDLER_WORKERS + FANOUT_WORKERS + 2
    OP.api = Api(kubernetes.client.ApiClient(config))
    OP.revisions.index = kwargs["entry_revisions"]
    OP.app_status.start()
    OP.release.start()
    OP.no_app_due.start()
    OP.app_later.start()
    OP.maps_to_drop.start()
    OP.projected.start()
    PROJECTOR.writer.start()


class NoDiffBase(kopf.DiffBaseStorage):
    """Only watch-event handlers here, so kopf's per-event copy and diff of each object (its
    "last handled" essence, for on.update handlers) is never used: skip building it."""

    def build(self, *, body, extra_fields=None):
        return {}

    def fetch(self, *, body):
        return None

    def store(self, *, body, patch, essence) -> None:
        pass


class NoProgress(kopf.ProgressStorage):
    """Likewise kopf's record of handlers' progress on each object (for retried change handlers):
    watch-event handlers have none, so nothing is read, written or cleaned per event."""

    def fetch(self, *, key, body):
        return None

    def store(self, *, key, record, body, patch) -> None:
        pass

    def purge(self, *, key, body, patch) -> None:
        pass

    def touch(self, *, body, patch, value) -> None:
        pass

    def clear(self, *, essence):
        return essence


@kopf.on.cleanup()
def cleanup(**_) -> None:
    OP.app_status.stop()
    OP.release.stop()
    OP.no_app_due.stop()
    OP.app_later.stop()
    OP.maps_to_drop.stop()
    OP.projected.stop()
    PROJECTOR.writer.stop()


@kopf.index("apps", "v1", "controllerrevisions", labels={ENTRY_LABEL: kopf.PRESENT})
def entry_revisions(body: kopf.Body, namespace: str | None, labels: kopf.Labels, **_) -> dict:
    return {index_key(namespace or "", labels): slim(body)}   # ControllerRevisions are namespaced


# ---------------------------------------------------------------------- events
def _entry_event(plural: str):
    def handler(event: dict, **_) -> None:
        obj = event["object"]
        meta = obj["metadata"]
        ns = meta["namespace"]
        key = (ns, plural, meta["name"])
        if event["type"] == "DELETED":
            with STATE.object_lock(key):
                groups = STATE.drop_entry(key)
                OP.checked.pop(key, None)
                OP.linked.pop(key, None)
                OP.active_hashes.pop(key, None)
                OP.revision_specs.pop(key, None)
                OP.no_app_since.pop(key, None)
                OP.held.pop(key, None)
                OP.superseded.pop(key, None)
                OP.own_writes.pop(key, None)
                OP.first_copies.pop(key, None)
                OP.awaiting_projection.discard(key)
            PROJECTOR.project(key, {})
            History(OP.api.apps, obj, OP.revisions).delete_all()  # no garbage collector to count on
            _membership_changed(groups, also=STATE.referrers(ns, {entry_id(obj)}) | _importers(ns, obj)
                                | STATE.waiting_on(ns, entry_id(obj)))
            return
        started = time.monotonic()
        with STATE.object_lock(key):
            if _superseded(key, meta.get("resourceVersion")) or _own_echo(key, meta.get("resourceVersion")):
                return
            old, before, after = STATE.put_entry(key, obj)
            app_affected = _reconcile_entry(key)
        metrics.DURATION.labels("entry").observe(time.monotonic() - started)
        # a library's importers are linted against it: re-checked when it comes, goes or changes
        importers = _importers(ns, obj) if old is None or old.get("spec") != obj.get("spec") else set()
        if old is None or before != after or _membership(old) != _membership(obj):
            # what may collide with it or was waiting for its id, and what referenced its old id
            # (where it may be gone now), is checked again too
            _membership_changed(before | after, skip=key, also=importers | STATE.waiting_on(ns, entry_id(obj)) | (
                STATE.referrers(ns, {entry_id(old)}) | _importers(ns, old) | STATE.waiting_on(ns, entry_id(old))
                if old is not None else set()))
        else:
            if importers:
                _reevaluate(sorted(importers - {key}))
            if app_affected:
                _mark_apps(after)
    handler.__name__ = f"entry_{plural}"
    return handler


def _own_echo(key: EntryKey, resource_version: str | None) -> bool:
    """Whether an event only shows this operator's own status write, whose answer was stored and
    reconciled already (a status write is no change to react to: whatever depends on what it
    decided was re-checked when it decided it). In a burst this halves the events handled."""
    return resource_version is not None and OP.own_writes.pop(key, None) == resource_version


def _superseded(key: EntryKey, resource_version: str | None) -> bool:
    """Whether an event brings a version of the entry that a status write of this operator has
    already replaced (the write's answer is stored: this event is late). Taking it would put the
    older status back and make the next write fail its resourceVersion check (409)."""
    replaced = OP.superseded.get(key)
    if replaced and resource_version in replaced:
        replaced.discard(resource_version)
        return True
    OP.superseded.pop(key, None)   # a version no write replaced: the newest there is
    return False


def _not_stale(plural: str):
    """kopf's filter, called on its event loop before it hands an event to a thread: an event that
    only echoes this operator's own status write (or that one has replaced) is dropped there (in a
    burst, every other event). When the entry's lock is taken, the handler decides, under it."""
    def when(event: dict, **_) -> bool:
        meta = event["object"]["metadata"]
        if event["type"] == "DELETED":
            return True
        key = (meta["namespace"], plural, meta["name"])
        lock = STATE.object_lock(key)
        if not lock.acquire(blocking=False):
            return True
        try:
            return not (_superseded(key, meta.get("resourceVersion")) or _own_echo(key, meta.get("resourceVersion")))
        finally:
            lock.release()
    return when


for _plural in PLURALS:
    kopf.on.event(GROUP, VERSION, _plural, id=f"entry-{_plural}", when=_not_stale(_plural))(_entry_event(_plural))


def _drop_echoes_before_kopf() -> None:
    """The same filter in front of kopf's processing of each entry event: an echo of the operator's
    own status write (every other event in a burst) then costs no per-event machinery of kopf's
    (its object memory, body views, loggers, cause detection and handler matching over every
    registered handler: ~1 ms of the GIL each). kopf builds its processor from
    ``processing.process_resource_event`` when the operator starts; should its internals change,
    the `when` filter above still drops these events, later."""
    try:
        from kopf._core.reactor import processing
        original = processing.process_resource_event
        import inspect
        if not {"raw_event", "resource"} <= set(inspect.signature(original).parameters):
            raise TypeError(f"process_resource_event{inspect.signature(original)}")
    except (ImportError, AttributeError, TypeError, ValueError) as e:
        log.warning("echoes of status writes are dropped after kopf's processing (kopf internals changed: %s)", e)
        return
    filters = {plural: _not_stale(plural) for plural in PLURALS}

    async def process_resource_event(*, raw_event, resource, **kwargs):
        when = filters.get(resource.plural) if resource.group == GROUP else None
        if when is not None and raw_event.get("type") is not None and not when(event=raw_event):
            return None
        return await original(raw_event=raw_event, resource=resource, **kwargs)

    process_resource_event.__wrapped__ = original   # type: ignore[attr-defined]
    processing.process_resource_event = process_resource_event   # type: ignore[assignment]


_drop_echoes_before_kopf()


@kopf.on.event(GROUP, VERSION, "wippyapps")
def app_event(event: kopf.RawEvent, **_) -> None:
    obj = cast(dict, event["object"])   # the object as JSON
    meta = obj["metadata"]
    key = (meta["namespace"], meta["name"])
    # an app being deleted waits for FINALIZER (its maps with it: the garbage collector leaves the
    # dependents of an owner that is still there) until its entries' revision 1 are written
    deleted = event["type"] == "DELETED" or bool(meta.get("deletionTimestamp"))
    if deleted:
        with STATE.object_lock(("wippyapps",) + key):
            under_way = OP.apps_deleting.pop(key, None) if event["type"] == "DELETED" else OP.apps_deleting.get(key)
            if under_way == meta.get("uid"):
                return   # its deletion is under way or done already
            if event["type"] != "DELETED":
                OP.apps_deleting[key] = meta.get("uid")
    with STATE.object_lock(("wippyapps",) + key):
        old = STATE.apps.get(key)
        moved, touched = STATE.put_app(key, None if deleted else obj)  # a deleted app's children are owned by it
        if deleted:
            OP.app_versions.pop(key, None)
            OP.app_version_at.pop(key, None)
            OP.app_progress_written.pop(key, None)
            app_history(OP.api.apps, obj).delete_all()  # no garbage collector to count on
    # entries' readiness depends on the app's spec (replicas, selector) and its pin, not on its status
    if deleted or old is None or old.get("spec") != obj.get("spec") or _pin_value(old) != _pin_value(obj):
        moved_ids = {entry_id(b) for b in map(STATE.entries.get, moved) if b}
        _reevaluate(sorted(set(STATE.members(Group(*key, True))) | set(moved) | STATE.blocked(touched)
                           | STATE.referrers(key[0], moved_ids)))
        _mark_apps(touched)
    if deleted:
        # after the re-evaluation above, which gave the entries that left it their revision 1
        # (an operator started since the deletion began finds them by the maps' items)
        _drop_maps(key, meta.get("uid"), tuple(moved))
    else:
        OP.app_status.mark(key)  # also after its own status writes: one pass over its entries per interval
        if FINALIZER not in (meta.get("finalizers") or []):
            # after the app is known: its entries' events meanwhile find it (without it, an entry's
            # revision 1 goes to a ControllerRevision at once, no app map being there to hold it)
            try:
                OP.api.finalize(_app_path(key), FINALIZER, True, meta.get("uid"))
            except kubernetes.client.ApiException as e:   # (RBAC without patch on wippyapps; a webhook)
                log.warning("adding the finalizer %s to app %s/%s: %s %s", FINALIZER, key[0], key[1], e.status, e.reason)


def _app_path(key: AppKey) -> str:
    return f"/apis/{API_VERSION}/namespaces/{key[0]}/wippyapps/{key[1]}"


def _drop_maps(key: AppKey, uid: str | None, entries: tuple[EntryKey, ...]) -> None:
    """Delete a deleted app's maps once the entries that left it have their revision 1 written
    (then let the app go: FINALIZER): until then a map may hold the only copy of it (should the
    operator stop and the entry's spec change before it is back). Maps are kept, and the writes
    retried, while one fails."""
    with STATE.object_lock(("wippyapps",) + key):
        if key in STATE.apps:
            return   # created again since: its maps are its own
        try:
            unwritten = tuple(sorted(_needing_maps(key, entries)))
        except kubernetes.client.ApiException as e:
            log.warning("reading the maps of deleted app %s/%s: %s %s; again in 5s", key[0], key[1], e.status, e.reason)
            unwritten = entries
        if unwritten:
            log.warning("keeping the maps of deleted app %s/%s until %d entries (%s, ...) have their revision 1 "
                        "written", key[0], key[1], len(unwritten), unwritten[0][2])
            OP.maps_to_drop.mark((key, uid, unwritten), 5.0)
            return
        PROJECTOR.drop_app(key)
        if uid is not None:
            try:
                OP.api.finalize(_app_path(key), FINALIZER, False, uid)
            except kubernetes.client.ApiException as e:
                log.warning("removing the finalizer %s of app %s/%s: %s %s; again in 5s", FINALIZER, key[0], key[1],
                            e.status, e.reason)
                OP.maps_to_drop.mark((key, uid, ()), 5.0)


def _needing_maps(key: AppKey, entries: tuple[EntryKey, ...]) -> set[EntryKey]:
    """The entries that left the app (or whose revision 1 its maps hold) whose revision 1 has no
    ControllerRevision yet: the object exists (the same one), and is in no other app."""
    found = {e: uid for e, uid in PROJECTOR.first_revisions(key)}
    needing = set()
    for k in set(entries) | set(found):
        body = STATE.entries.get(k)
        if body is None:   # not seen (yet) by this operator: the object, if there
            try:
                body = OP.api.get(f"/apis/{API_VERSION}/namespaces/{k[0]}/{k[1]}/{k[2]}")
            except kubernetes.client.ApiException as e:
                if e.status == 404:
                    continue
                raise
            if k in found and body["metadata"].get("uid") != found[k]:
                continue   # another object of that name: the map's copy is none of its history
            needing.add(k)   # its own event brings it here, and its revision 1 is written then
        elif k in found and body["metadata"].get("uid") != found[k]:
            continue
        elif any(g.app for g in STATE.groups_of(k)):
            continue   # another app's maps hold it
        elif k in OP.first_copies or (k in found and (body.get("status") or {}).get("latestRevision") in (None, 1)
                                      and not History(OP.api.apps, body, OP.revisions).written(1)):
            needing.add(k)   # (an entry past revision 1 without its ControllerRevision had it pruned)
    return needing


def _retry_drop_maps(batch: list[tuple[tuple[AppKey, str | None, tuple[EntryKey, ...]], contextvars.Context]]) -> None:
    for (key, uid, entries), ctx in batch:
        _reevaluate(list(entries), [ctx.copy() for _ in entries])
        _drop_maps(key, uid, entries)


@kopf.on.event("v1", "pods", labels={APP_LABEL: kopf.PRESENT})
def pod_event(event: kopf.RawEvent, **_) -> None:
    meta = event["object"]["metadata"]
    key = (meta["namespace"], meta["labels"][APP_LABEL])
    with STATE.object_lock(("pods",) + key):
        pods = STATE.pods.setdefault(key, set())
        before = set(pods)
        if event["type"] == "DELETED" or meta.get("deletionTimestamp"):
            pods.discard(meta["name"])
        else:
            pods.add(meta["name"])
    if pods != before:
        for name in before - pods:
            _forget_reports(key, name)
        _reevaluate(STATE.members(Group(*key, True)))
        OP.app_status.mark(key)


def _forget_reports(app: AppKey, pod: str) -> None:
    """A pod is gone: take its reports out of the app's maps."""
    for name, keys in REPORTS.keys_of_pod(*app, pod).items():
        try:
            OP.api.patch_map(app[0], name, dict.fromkeys(keys))
        except kubernetes.client.ApiException as e:
            if e.status != 404:
                log.warning("dropping the reports of pod %s from %s: %s", pod, name, e.reason)


@kopf.on.event("v1", "configmaps", labels={maps.KIND_LABEL: maps.APPLIED, APP_LABEL: kopf.PRESENT})
def reports_event(event: kopf.RawEvent, **_) -> None:
    """Pods reported what they applied: re-check the entries concerned, if the app selects them."""
    meta = event["object"]["metadata"]
    app = (meta["namespace"], meta["labels"][APP_LABEL])
    data = {} if event["type"] == "DELETED" else cast(dict, event["object"]).get("data") or {}
    items = REPORTS.put(*app, meta["name"], data)
    _reevaluate(sorted({k for k in map(lambda item: PROJECTOR.entry_of(app, item), items) if k is not None}))


def _membership_changed(groups: frozenset[Group], skip: EntryKey | None = None,
                        also: AbstractSet[EntryKey] = frozenset()) -> None:
    """An entry came, went or changed its id or groups: re-check those waiting for such a change
    (and `also`, those that referenced what changed)."""
    _reevaluate(sorted((STATE.blocked(groups) | also) - {skip}))
    _mark_apps(groups)


def _mark_apps(groups: frozenset[Group] | set[Group]) -> None:
    for group in groups:
        if group.app:
            OP.app_status.mark(group.app_key())


def _importers(ns: str, body: dict) -> set[EntryKey]:
    """When `body` is a library: the entries that import it, directly or through other libraries."""
    found: set[EntryKey] = set()
    todo = [body]
    seen: set[str | None] = set()
    while todo:
        lib = todo.pop()
        if _wippy_kind(lib) != LIBRARY or entry_id(lib) in seen:
            continue
        seen.add(entry_id(lib))
        for k in STATE.referrers(ns, {entry_id(lib)}) - found:
            found.add(k)
            if (b := STATE.entries.get(k)) is not None:
                todo.append(b)
    return found


def _reevaluate(keys: list[EntryKey], contexts: list[contextvars.Context] | None = None) -> None:
    # each task runs in a copy of this handler's context (or the one it was asked from), where kopf
    # can post Events; the apps are looked at once all are done (a version recorded from a
    # half-updated app would be no version)
    changed = list(OP.fanout.map(lambda k, ctx: ctx.run(_reconcile_entry_locked, k),
                                 keys, contexts or [contextvars.copy_context() for _ in keys]))
    _mark_apps({g for k, c in zip(keys, changed) if c for g in STATE.groups_of(k)})


def _reconcile_entry_locked(key: EntryKey) -> bool:
    """Reconcile one entry under its lock; True when its apps' status should be looked at again."""
    with STATE.object_lock(key):
        if key not in STATE.entries:
            return False
        try:
            return _reconcile_entry(key)
        except kubernetes.client.ApiException as e:
            log.warning("re-evaluating %s/%s: %s", key[1], key[2], e)
            return False


# ---------------------------------------------------------------------- entries
def _reconcile_entry(key: EntryKey) -> bool:
    """Bring one entry's status up to date (its lock held); True when what its app's status
    reflects changed: its Ready status or its active revision (the app's version)."""
    body = STATE.entries[key]
    ns, plural, name = key
    meta, status = body["metadata"], body.get("status") or {}
    generation = meta.get("generation")
    groups = STATE.groups_of(key)
    found = _intrinsic(key, body)
    STATE.set_references(key, found.references)
    problem = _collision(key) or found.problem or _missing_references(groups, found.references) \
        or _linked_lint(key, body, groups)
    STATE.set_blocked(key, problem is not None and problem.reason in MEMBERSHIP_REASONS)
    latest, active = status.get("latestRevision"), status.get("activeRevision")
    history = History(OP.api.apps, body, OP.revisions)
    pin: int | None = None
    pinned_by = PIN_ANNOTATION
    if problem is None:
        try:
            pin = pinned_revision(body)
            if pin is None:
                pinned_by = f"its WippyApp's {APP_PIN_ANNOTATION}"
                pin = _app_pinned_revision(body, history, groups)
        except ValueError as e:
            problem = checks.Problem("InvalidPin", str(e))
        except LookupError as e:
            problem = checks.Problem("PinnedRevisionMissing", str(e.args[0]))
    latest_hash = status.get(LATEST_HASH)
    recorded = False
    if problem is None:
        if status.get("observedGeneration") != generation or latest is None:
            latest = history.record(limit=OP.history_limit, keep={pin} if pin else set(),
                                    first=_first_copy(key, body, history, groups), lazy=True)
            latest_hash, recorded = spec_hash(body.get("spec") or {}), True
            metrics.REVISIONS.inc()
        active = latest
        if pin is not None and pin != latest:
            if history.get(pin) is None:
                problem = checks.Problem("PinnedRevisionMissing", f"pinned revision {pin} is not in the history")
            else:
                active = pin
    unwritten = history.pending if recorded else _first_copy(key, body, history, groups) if latest == 1 else None
    if unwritten is not None and not (problem is None and active == 1 and any(g.app for g in groups)):
        # no app map is to hold a copy of it: it is written before the maps let go of theirs
        history.pending = unwritten
        history.write_pending()
        unwritten = None
    _remember_first(key, unwritten)
    _project(key, body, groups, None if problem else active, latest, history, problem)
    applied = _applied(key, groups)
    if problem is not None:
        state, reason, message = "stalled", problem.reason, problem.message
    else:
        assert active is not None   # without a problem, the active revision is set above
        state, reason, message = _rollout(groups, active, applied)
        if pin is not None:
            message += f" (pinned to revision {pin} by {pinned_by}; latest is {latest})"
    state, reason, message = _no_app_grace(key, state, reason, message, body)
    wanted = {"observedGeneration": generation, "latestRevision": latest, LATEST_HASH: latest_hash,
              "activeRevision": active, "pinnedRevision": pin, "servedRevision": _served(applied),
              "conditions": conditions.conditions(state, reason, message, generation, status.get("conditions"))}
    if (status.get("applied") or {}) != applied:
        # the pods' reports, mirrored for `kubectl get`; a merge patch drops those of pods gone
        wanted["applied"] = _replacing(status.get("applied") or {}, applied)
    if "applied" not in wanted and all(status.get(k) == v for k, v in wanted.items() if k != "conditions") and \
            conditions.same(status.get("conditions"), wanted["conditions"]):
        OP.held.pop(key, None)  # nothing left to write
        return False
    if _held(key, meta, status, state):
        return False
    if unwritten is not None and not PROJECTOR.written(key):
        OP.awaiting_projection.add(key)   # the status names revision 1 once its app maps hold a copy
        return False
    OP.awaiting_projection.discard(key)
    try:
        patched = OP.api.patch_status(API_VERSION, plural, ns, name, wanted, meta.get("resourceVersion"))
    except kubernetes.client.ApiException as e:
        if e.status == 409:
            metrics.CONFLICTS.inc()  # it changed meanwhile: its next event brings the newer body
            return False
        if e.status == 404:
            return False
        metrics.RECONCILES.labels("entry", "error").inc()
        raise
    if state == "stalled" and _ready_reason(status) != reason:
        kopf.warn(body, reason=reason, message=message)
    OP.held.pop(key, None)
    OP.superseded.setdefault(key, set()).add(meta.get("resourceVersion"))
    OP.own_writes[key] = patched["metadata"].get("resourceVersion")
    STATE.put_entry(key, patched)
    metrics.RECONCILES.labels("entry", state).inc()
    return _ready_reason(status, "True") != (state == "ready") or status.get("activeRevision") != active


def _first_copy(key: EntryKey, body: dict, history: History, groups: frozenset[Group]) -> dict | None:
    """Revision 1 while it has no ControllerRevision: the object's spec while it is still that one,
    else this operator's copy of it, else (after a restart) the copy an app map holds."""
    if history.written(1):
        return None
    kept = history.kept_by_object()
    if kept is not None:
        return kept
    meta = body["metadata"]
    known = OP.first_copies.get(key)
    if known is not None and known[0] == meta.get("uid"):
        return history.unwritten(known[1], known[2], recorded_at=known[3], by=known[4])
    label = (meta.get("labels") or {}).get(APP_LABEL)
    apps = {g.app_key() for g in groups if g.app} | ({(key[0], label)} if label else set())
    for item in PROJECTOR.stored(key, apps):
        if item.get("uid") == meta.get("uid") and item.get("revision") == 1:
            return history.unwritten(item.get("spec") or {}, item.get("generation"))
    return None


def _remember_first(key: EntryKey, unwritten: dict | None) -> None:
    if unwritten is None:
        OP.first_copies.pop(key, None)
        return
    meta = unwritten["metadata"]
    annotations = meta.get("annotations") or {}
    OP.first_copies[key] = (meta["ownerReferences"][0]["uid"], unwritten["data"],
                            annotations.get(f"{GROUP}/generation"), annotations.get(RECORDED_AT),
                            annotations.get(CHANGED_BY))


def _held(key: EntryKey, meta: dict, status: dict, state: str) -> bool:
    """Whether to hold back this status write, which would say "in progress" (then the
    re-evaluation OP.release makes when the hold ends writes it). A change from Ready or Stalled
    of the generation seen is said at once."""
    if state != "progressing":
        return False
    seen = status.get("observedGeneration") == meta.get("generation")
    if seen and not _condition(status, "Reconciling"):
        return False
    version = (meta.get("uid"), meta.get("generation"))
    held = OP.held.get(key)
    if held is None or held[0] != version:
        hold = HOLD_MOVING if seen else min(HOLD_MOVING, HOLD + HOLD_PER_HELD * len(OP.held))
        OP.held[key] = (version, time.monotonic() + hold)
        OP.release.mark(key, hold)
        return True
    return time.monotonic() < held[1] - 0.05


def _release(batch: list[tuple[EntryKey, contextvars.Context]]) -> None:
    """Held statuses are due: those not written meanwhile are evaluated (and written) again."""
    due = [(k, ctx) for k, ctx in batch if k in OP.held]
    if due:
        _reevaluate([k for k, _ in due], [ctx for _, ctx in due])


def _project(key: EntryKey, body: dict, groups: frozenset[Group], served: int | None, latest: int | None,
             history: History, problem: checks.Problem | None) -> None:
    """Hand the entry to the pods of the apps that select it: the spec of the revision to serve
    (a pin's from its ControllerRevision), or, when a check failed, the spec as it is (the pods
    refuse what cannot run and keep the last good version). A pin that cannot be resolved leaves
    what the pods serve as it is."""
    if problem is not None and problem.reason in PIN_REASONS:
        return
    spec = body.get("spec") or {}
    if served is not None and served != latest:
        spec = _revision_spec(key, history.get(served))
        if spec is None:
            return
    meta = body["metadata"]
    item = {"name": meta["name"], "kind": body["kind"], "uid": meta.get("uid"), "generation": meta.get("generation"),
            "created": meta.get("creationTimestamp"), "revision": served, "spec": spec}
    PROJECTOR.project(key, {g.app_key(): item for g in groups if g.app})


def _revision_spec(key: EntryKey, rev: dict | None) -> dict | None:
    """A recorded revision's spec, read once: a ControllerRevision's data never changes, and one
    of the same name made later (the entry deleted and created again) has another uid."""
    if rev is None:
        return None
    if rev.get("unwritten"):
        return rev["data"]
    meta = rev["metadata"]
    cached = OP.revision_specs.get(key)
    if cached is None or cached[0] != (meta["name"], meta.get("uid")):
        try:
            body = json_body(OP.api.apps.read_namespaced_controller_revision(meta["name"], key[0],
                                                                            _preload_content=False))
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                return None
            raise
        cached = OP.revision_specs[key] = ((meta["name"], body["metadata"].get("uid")), body.get("data") or {})
    return cached[1]


def _served(applied: dict[str, dict]) -> int | None:
    """The revision every reporting pod serves (a pod that failed serves its last good one)."""
    served = {(r.get("serving") or {}).get("revision") if r.get("error") else r.get("revision")
              for r in applied.values()}
    return served.pop() if len(served) == 1 else None


def _no_app_grace(key: EntryKey, state: str, reason: str, message: str, body: dict) -> tuple[str, str, str]:
    """An entry no app selects may be waiting for its app to be applied; past the grace period it
    is Stalled, so that GitOps tools stop waiting for it (and re-checked then, by a timer)."""
    if reason != "NoApp":
        OP.no_app_since.pop(key, None)
        return state, reason, message
    now = time.monotonic()
    since = OP.no_app_since.setdefault(key, now)
    if now - since < OP.no_app_grace:
        # a mark still pending from an earlier stay in no app comes early: this is then marked again
        OP.no_app_due.mark(key, since + OP.no_app_grace + 0.5 - now)
        return state, reason, message
    label = (body["metadata"].get("labels") or {}).get(APP_LABEL)
    which = f"labelled {APP_LABEL}={label}" if label else f"without a {APP_LABEL} label"
    return "stalled", "NoApp", (f"no WippyApp in this namespace selects this entry ({which}) after "
                                f"{OP.no_app_grace:g}s; {message}")


def _applied(key: EntryKey, groups: frozenset[Group]) -> dict[str, dict]:
    """What the live pods of the apps that select the entry report about it."""
    item = maps.item_key(key[1], key[2])
    applied: dict[str, dict] = {}
    for g in groups:
        if g.app:
            app = g.app_key()
            live = STATE.pods.get(app)
            applied.update({p: r for p, r in REPORTS.of(*app, item).items() if not live or p in live})
    return applied


PIN_REASONS = {"InvalidPin", "PinnedRevisionMissing"}


def _replacing(old: dict, new: dict) -> dict:
    """A merge patch that turns `old` into `new` (a merge patch merges maps: what goes is null)."""
    patch: dict = {k: None for k in old if k not in new}
    for k, v in new.items():
        patch[k] = _replacing(old[k], v) if isinstance(v, dict) and isinstance(old.get(k), dict) else v
    return patch


def _app_pinned_revision(body: dict, history: History, groups: frozenset[Group]) -> int | None:
    """The entry's revision in the app versions its WippyApps are pinned to (None: none is, or
    the entry was added since); LookupError when that version or revision is gone, ValueError
    when two apps pin different revisions of it (it serves one)."""
    pins: dict[str, int] = {}
    for group in sorted(g for g in groups if g.app):
        app_ns, app_name = group.app_key()
        app_obj = STATE.apps.get((app_ns, app_name))
        number = pinned_revision(app_obj, APP_PIN_ANNOTATION) if app_obj else None
        if app_obj is None or number is None:
            continue
        want = (_version_content(app_obj, number).get("entries") or {}).get(entry_key(body))
        if want is None:
            continue
        rev = next((r for r in history.list() if r["metadata"]["labels"].get(HASH_LABEL) == want["hash"]), None)
        if rev is None:
            raise LookupError(f"app {app_name} is pinned to version {number}, but this entry's revision of it "
                              "was pruned")
        pins[app_name] = rev["revision"]
    if len(set(pins.values())) > 1:
        raise ValueError("its apps pin different revisions of it: "
                         + ", ".join(f"{app} revision {rev}" for app, rev in pins.items()))
    return next(iter(pins.values()), None)


def _version_content(app_obj: dict, number: int) -> dict:
    """A recorded app version's data (read once: a version never changes)."""
    meta = app_obj["metadata"]
    cache_key = (meta["namespace"], meta["name"], meta.get("uid"), number)
    if cache_key not in OP.versions_read:
        name = revision_name(version_base(meta["name"]), number)
        try:
            rev = json_body(OP.api.apps.read_namespaced_controller_revision(name, meta["namespace"],
                                                                            _preload_content=False))
        except kubernetes.client.ApiException as e:
            if e.status == 404:
                raise LookupError(f"app {meta['name']} is pinned to version {number}, which is not in its history") \
                    from None
            raise
        if not any(o.get("uid") == meta.get("uid") for o in rev["metadata"].get("ownerReferences") or []):
            raise LookupError(f"app {meta['name']} is pinned to version {number}, which is not in its history")
        OP.versions_read[cache_key] = rev.get("data") or {}
    return OP.versions_read[cache_key]


def _intrinsic(key: EntryKey, body: dict) -> checks.Intrinsic:
    """The spec's own checks (Lua compile, model validation), redone only for a new generation."""
    meta = body["metadata"]
    version = (meta.get("uid"), meta.get("generation"))
    cached = OP.checked.get(key)
    if cached is None or cached[0] != version:
        cached = OP.checked[key] = (version, checks.intrinsic(body, OP.lua))
        if cached[1].warnings:  # once per generation: lint warnings become an Event
            shown = cached[1].warnings[:5]
            more = f" (and {len(cached[1].warnings) - 5} more)" if len(cached[1].warnings) > 5 else ""
            kopf.warn(body, reason="LintWarnings", message="; ".join(shown) + more)
    return cached[1]


def _linked_lint(key: EntryKey, body: dict, groups: frozenset[Group]) -> checks.Problem | None:
    """Lint errors against the libraries the entry imports (their types, not `any`), in each app
    that runs it. Redone only when the entry or one of those libraries has a new generation."""
    spec = body.get("spec") or {}
    eid, kind = entry_id(body), _wippy_kind(body)
    if not spec.get("imports") or not eid or kind is None:
        return None
    for group in sorted(groups, key=lambda g: (g.name or "", g.app)):
        libraries = _libraries(key[0], eid, spec, group)
        meta = body["metadata"]
        version = ((meta.get("uid"), meta.get("generation")),
                   tuple(sorted((i, (b["metadata"].get("uid"), b["metadata"].get("generation")))
                                for i, b in libraries.items())))
        cached = OP.linked.get(key)
        if cached is None or cached[0] != version:
            libs = {i: b.get("spec") or {} for i, b in libraries.items()}
            cached = OP.linked[key] = (version, checks.linked_lint(eid, kind, spec, libs))
        if cached[1] is not None:
            return cached[1]
    return None


def _libraries(ns: str, eid: str, spec: dict, group: Group) -> dict[str, dict]:
    """The bodies of the libraries an entry imports in a group, and of those they import."""
    found: dict[str, dict] = {}
    todo = sorted(checks.imported_ids(eid, spec))
    while todo:
        lib_id = todo.pop()
        if lib_id in found or lib_id == eid:
            continue
        # of two claimants of an id the older serves it (see _collision)
        claims = sorted(STATE.claiming(ns, lib_id, frozenset({group})),
                        key=lambda c: (c[1]["metadata"].get("creationTimestamp") or "", c[0][1], c[0][2]))
        if not claims or _wippy_kind(claims[0][1]) != LIBRARY:
            continue   # a missing one is a MissingReference; a non-library is not linted as one
        found[lib_id] = claims[0][1]
        todo.extend(sorted(checks.imported_ids(lib_id, claims[0][1].get("spec") or {})))
    return found


def _collision(key: EntryKey) -> checks.Problem | None:
    """Two objects of one app claim one entry id (admission refuses the second; one applied
    while the webhook was down is still caught here): the older one keeps it."""
    mine = STATE.entries[key]["metadata"]
    for other_key, other in STATE.claimants(key):
        theirs = other["metadata"]
        if (theirs.get("creationTimestamp"), other_key[1], other_key[2]) < (mine.get("creationTimestamp"), key[1], key[2]):
            return checks.Problem("IdCollision", f"entry id is already claimed by {other['kind']} {theirs['name']}")
    return None


def _missing_references(groups: frozenset[Group], references: frozenset[str]) -> checks.Problem | None:
    """References must resolve in every app that runs the entry."""
    missing = {g: STATE.unknown_ids(g, references) for g in groups}
    lacking = sorted(g.name or "" for g, ids in missing.items() if ids)   # None: the unlabelled (one group)
    if not lacking:
        return None
    where = "this app" if len(groups) == 1 else f"WippyApp {', '.join(lacking)}"
    return checks.missing_references(set().union(*missing.values()), where)


def _rollout(groups: frozenset[Group], active: int, applied: dict) -> tuple[str, str, str]:
    """How far the pods of every app that runs the entry are with its active revision."""
    states = {}
    for g in groups:
        spec, pods = (STATE.specs.get(g.app_key()), STATE.pods.get(g.app_key())) if g.app else (None, None)
        states[g.name] = rollout.entry_state(active, spec.replicas if spec else None, applied, pods or None)
    return rollout.least_advanced(states)


# reasons that depend on the app's other entries
MEMBERSHIP_REASONS = {"MissingReference", "IdCollision"}


# ---------------------------------------------------------------------- apps
def _reconcile_app_locked(key: AppKey) -> None:
    with STATE.object_lock(("wippyapps",) + key):
        if key in STATE.apps:
            _reconcile_app(key)


def _reconcile_app(key: AppKey) -> None:
    ns, app = key
    body = STATE.apps[key]
    meta, status = body["metadata"], body.get("status") or {}
    generation = meta.get("generation")
    count = STATE.app_count(Group(ns, app, True))
    try:
        wanted_children = children.render(body, count.http)
    except ValidationError as e:
        message = "; ".join(format_validation_errors(e, WippyAppSpec))
        return _patch_app(key, "stalled", "InvalidSpec", message, body, generation)
    digest = hashlib.sha256(json.dumps(wanted_children, sort_keys=True).encode()).hexdigest()[:16]
    if status.get("childrenHash") != digest or status.get("observedGeneration") != generation:
        try:
            OP.api.create_if_absent(children.mesh_secret(body))
            for obj in wanted_children:
                OP.api.apply(obj)
            keep = {o["metadata"]["name"] for o in wanted_children if o["kind"] == "Service"}
            for svc in OP.api.list("v1", "Service", ns, f"{APP_LABEL}={app},{children.COMPONENT}=http"):
                if svc["metadata"]["name"] not in keep:
                    OP.api.delete("v1", "Service", ns, svc["metadata"]["name"])
        except kubernetes.client.ApiException as e:
            # the API server's message names the field of the pod template it refused
            message = f"{e.status} {e.reason}: {_api_message(e)}"
            kopf.warn(body, reason="ApplyFailed", message=message)
            return _patch_app(key, "stalled", "ApplyFailed", message, body, generation)
    state = "ready" if count.ready == count.entries else "progressing"
    reason = "EntriesReady" if state == "ready" else "WaitingForEntries"
    message = f"{count.ready}/{count.entries} entries ready"
    try:
        pinned = pinned_revision(body, APP_PIN_ANNOTATION)
    except ValueError:
        pinned = None  # its entries are stalled with InvalidPin, saying why
    # while pinned the app serves that version: recording one would renumber (and lose) it
    version = pinned if pinned is not None else _app_version(key, body, count)
    _patch_app(key, state, reason, message, body, generation, entries=count.entries, childrenHash=digest,
               **({"version": version} if version is not None else {}))


def _summary(body: dict) -> Summary:
    """What the app's status reads of an entry (state.Tally keeps it per app)."""
    meta, status = body["metadata"], body.get("status") or {}
    annotations = meta.get("annotations") or {}
    eid = entry_id(body)
    return Summary(
        ready=bool(_ready_reason(status, "True")),
        observed=status.get("observedGeneration") == meta.get("generation"),
        http=(eid, (body.get("spec") or {}).get("addr", "")) if eid is not None and _wippy_kind(body) == HTTP_SERVICE
        else None,
        version=(meta.get("uid"), meta.get("generation"), eid, status.get("activeRevision"),
                 status.get("latestRevision"), status.get(LATEST_HASH), annotations.get(CHANGED_BY),
                 annotations.get(CHANGED_SPEC)))


def _app_version(key: AppKey, body: dict, count: AppCount) -> int | None:
    """The app's version number, recording a new version when what it has changed; None until
    every entry's latest generation has been seen (a half-applied change is not a version).
    Worked out again only when an entry's part of it may have changed (the tally's stamp)."""
    if count.unobserved:
        return None
    uid = body["metadata"].get("uid")
    known = OP.app_version_at.get(key)
    if known is not None and known[:2] == (uid, count.stamp):
        return known[2]
    entries = [b for b in map(STATE.entries.get, STATE.members(Group(*key, True))) if b is not None]
    content: dict[str, dict] = {}
    for b in entries:
        status = b.get("status") or {}
        if status.get("observedGeneration") != b["metadata"].get("generation"):
            return None
        active = status.get("activeRevision")
        if active is None:
            continue  # never accepted: nothing to return to
        digest = _revision_hash(b, active)
        if digest is None:
            return None
        content[entry_key(b)] = {"id": entry_id(b), "hash": digest,
                                 **({"by": by} if (by := changed_by(b, digest)) else {})}
    if not content:
        return None
    version = {"entries": content}
    digest = spec_hash(version)
    recorded = OP.app_versions.get(key)
    if recorded and recorded[:2] == (uid, digest):
        number = recorded[2]
    else:
        try:
            number = app_history(OP.api.apps, body, version).record(limit=OP.history_limit)
        except kubernetes.client.ApiException as e:
            log.warning("recording a version of app %s/%s: %s", key[0], key[1], e)
            return None
        OP.app_versions[key] = (uid, digest, number)
    OP.app_version_at[key] = (uid, count.stamp, number)
    return number


def _revision_hash(body: dict, revision: int) -> str | None:
    meta = body["metadata"]
    key = (meta["namespace"], plural_of(body["kind"]), meta["name"])
    version = (meta.get("uid"), revision)
    status = body.get("status") or {}
    if revision == status.get("latestRevision") and status.get(LATEST_HASH):
        return status[LATEST_HASH]
    known = OP.active_hashes.get(key)
    if known is None or known[0] != version:
        rev = History(OP.api.apps, body, OP.revisions).get(revision)
        if rev is None:
            return None
        known = OP.active_hashes[key] = (version, rev["metadata"]["labels"].get(HASH_LABEL))
    return known[1]


def _patch_app(key: AppKey, state: str, reason: str, message: str, body: dict, generation, **extra) -> None:
    status = body.get("status") or {}
    wanted = {"observedGeneration": generation, **extra,
              "conditions": conditions.conditions(state, reason, message, generation, status.get("conditions"))}
    if all(status.get(k) == v for k, v in wanted.items() if k != "conditions") and \
            conditions.same(status.get("conditions"), wanted["conditions"]):
        return
    if state == "progressing" and _ready_reason(status) == reason and \
            all(status.get(k) == wanted.get(k) for k in ("observedGeneration", "entries", "childrenHash", "version")):
        wait = OP.app_progress_written.get(key, 0.0) + APP_PROGRESS_EVERY - time.monotonic()
        if wait > 0:   # only the count of ready entries moved
            OP.app_later.mark(key, wait)
            return
    OP.app_progress_written[key] = time.monotonic()
    try:
        STATE.apps[key] = OP.api.patch_status(API_VERSION, "wippyapps", key[0], key[1], wanted,
                                              body["metadata"].get("resourceVersion"))
    except kubernetes.client.ApiException as e:
        if e.status == 409:
            metrics.CONFLICTS.inc()  # its next event reconciles it again
            return
        if e.status != 404:
            raise
    metrics.RECONCILES.labels("app", state).inc()


# ---------------------------------------------------------------------- helpers
def _api_message(e: kubernetes.client.ApiException) -> str:
    try:
        return str(json.loads(e.body or "{}").get("message") or e.body or "")
    except ValueError:
        return str(e.body or "")


def _pin_value(body: dict) -> str | None:
    return ((body.get("metadata") or {}).get("annotations") or {}).get(APP_PIN_ANNOTATION)


def _membership(body) -> tuple:
    return entry_id(body), (body.get("spec") or {}).get("addr")


def _wippy_kind(body: dict) -> str | None:
    kinds = PLURALS.get(plural_of(body["kind"])) or []
    return (body.get("spec") or {}).get("kind") or (kinds[0] if kinds else None)


def _condition(status: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def _ready_reason(status: dict, value: str | None = None) -> str | bool | None:
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if value is not None:
        return ready is not None and ready.get("status") == value
    return ready.get("reason") if ready else None


def _count_entries() -> dict[str, int]:
    counts = {"ready": 0, "progressing": 0, "stalled": 0}
    for b in list(STATE.entries.values()):
        conds = {c.get("type"): c.get("status") for c in (b.get("status") or {}).get("conditions") or []}
        state = "ready" if conds.get("Ready") == "True" else "stalled" if conds.get("Stalled") == "True" else "progressing"
        counts[state] += 1
    return counts
