"""kopf wiring. Level-triggered: every watch event of an entry, a WippyApp or a runtime pod
recomputes the affected objects' status from what is known, and patches only what differs.

Only `@kopf.on.event` is used: it keeps no state on the objects (no annotations, no finalizers,
so deletes never wait for the operator) and it sees status changes, which is how runtime pods'
reports (`status.applied`) reach the Ready condition. The operator never writes `spec`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time

import kopf
import kubernetes
from pydantic import ValidationError

from wippy.kube.crds import APP_LABEL, WippyAppSpec, kinds_by_crd_plural
from wippy.kube.naming import API_VERSION, GROUP, VERSION, plural as plural_of
from wippy.kube.revisions import History, pinned_revision
from wippy.registry.errors import format_validation_errors

from . import checks, children, conditions, metrics, rollout
from .kubeapi import Api

log = logging.getLogger("wippy.operator")
PLURALS = kinds_by_crd_plural()
HTTP_SERVICE = "http.service"


class State:
    """What the watches have shown, so one event can re-evaluate an app's other entries."""

    def __init__(self) -> None:
        self.lock = threading.RLock()  # handlers run in threads; one reconciliation at a time
        self.entries: dict[tuple[str, str, str], dict] = {}  # (namespace, plural, name) -> body
        self.apps: dict[tuple[str, str], dict] = {}  # (namespace, app) -> WippyApp body
        self.pods: dict[tuple[str, str], set[str]] = {}  # (namespace, app) -> live runtime pods
        self.lua = checks.LuaChecker()
        self.api: Api | None = None
        self.history_limit = 10


STATE = State()


@kopf.on.startup()
def startup(settings: kopf.OperatorSettings, **_) -> None:
    settings.posting.level = logging.WARNING  # Kubernetes Events only for problems
    settings.execution.max_workers = 4
    # a watch whose connection dies without a close (API server restart) is redone, not awaited forever
    settings.watching.connect_timeout = 10
    settings.watching.server_timeout = 50
    settings.watching.client_timeout = 60
    settings.watching.inactivity_timeout = 60
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    STATE.api = Api(kubernetes.client.ApiClient())


# ---------------------------------------------------------------------- events
def _entry_event(plural: str):
    def handler(event: dict, body: kopf.Body, **_) -> None:
        meta = body["metadata"]
        key = (meta["namespace"], plural, meta["name"])
        with STATE.lock:
            old = STATE.entries.get(key)
            if event["type"] == "DELETED":
                STATE.entries.pop(key, None)
                History(STATE.api.apps, event["object"]).delete_all()  # no garbage collector to count on
                _reevaluate_app(meta["namespace"], _app_of(body), problems_only=True)
                return
            STATE.entries[key] = event["object"]
            started = time.monotonic()
            flipped = _reconcile_entry(key)
            metrics.DURATION.labels("entry").observe(time.monotonic() - started)
            if old is None or _membership(old) != _membership(body):
                for app in {_app_of(old) if old else None, _app_of(body)}:
                    _reevaluate_app(meta["namespace"], app, skip=key, problems_only=True)
            elif flipped and (meta["namespace"], _app_of(body)) in STATE.apps:
                _reconcile_app((meta["namespace"], _app_of(body)))
    handler.__name__ = f"entry_{plural}"
    return handler


for _plural in PLURALS:
    kopf.on.event(GROUP, VERSION, _plural, id=f"entry-{_plural}")(_entry_event(_plural))


@kopf.on.event(GROUP, VERSION, "wippyapps")
def app_event(event: dict, body: kopf.Body, **_) -> None:
    meta = body["metadata"]
    key = (meta["namespace"], meta["name"])
    with STATE.lock:
        if event["type"] == "DELETED":
            STATE.apps.pop(key, None)  # its children are owned by it
        else:
            STATE.apps[key] = event["object"]
            _reconcile_app(key)
        _reevaluate_app(*key)


@kopf.on.event("v1", "pods", labels={APP_LABEL: kopf.PRESENT})
def pod_event(event: dict, body: kopf.Body, **_) -> None:
    meta = body["metadata"]
    key = (meta["namespace"], meta["labels"][APP_LABEL])
    with STATE.lock:
        pods = STATE.pods.setdefault(key, set())
        before = set(pods)
        if event["type"] == "DELETED" or meta.get("deletionTimestamp"):
            pods.discard(meta["name"])
        else:
            pods.add(meta["name"])
        if pods != before:
            _reevaluate_app(*key)


# ---------------------------------------------------------------------- entries
def _reconcile_entry(key: tuple[str, str, str]) -> bool:
    """Bring one entry's status up to date; True when its Ready status flipped."""
    body = STATE.entries[key]
    ns, plural, name = key
    meta, status = body["metadata"], body.get("status") or {}
    generation = meta.get("generation")
    app = _app_of(body)
    problem = _collision(key) or checks.check(body, _ids_of(ns, app), STATE.lua)
    latest, active = status.get("latestRevision"), status.get("activeRevision")
    history = History(STATE.api.apps, body)
    pin = None
    if problem is None:
        try:
            pin = pinned_revision(body)
        except ValueError as e:
            problem = checks.Problem("InvalidPin", str(e))
    if problem is None:
        if status.get("observedGeneration") != generation or latest is None:
            latest = history.record(limit=STATE.history_limit, keep={pin} if pin else set())
            metrics.REVISIONS.inc()
        active = latest
        if pin is not None and pin != latest:
            if history.get(pin) is None:
                problem = checks.Problem("PinnedRevisionMissing", f"pinned revision {pin} is not in the history")
            else:
                active = pin
    if problem is not None:
        state, reason, message = "stalled", problem.reason, problem.message
    else:
        state, reason, message = rollout.entry_state(active, _replicas(ns, app), status.get("applied") or {},
                                                     STATE.pods.get((ns, app)) or None)
    wanted = {"observedGeneration": generation, "latestRevision": latest, "activeRevision": active,
              "conditions": conditions.conditions(state, reason, message, generation, status.get("conditions"))}
    live = STATE.pods.get((ns, app))
    stale = {p: None for p in status.get("applied") or {} if live and p not in live}
    if stale:
        wanted["applied"] = stale  # merge patch: drop reports of pods that are gone
    if not stale and all(status.get(k) == v for k, v in wanted.items() if k != "conditions") and \
            conditions.same(status.get("conditions"), wanted["conditions"]):
        return False
    if state == "stalled" and _ready_reason(status) != reason:
        kopf.warn(body, reason=reason, message=message)
    api_version = f"{GROUP}/{VERSION}"
    try:
        patched = STATE.api.patch_status(api_version, plural, ns, name, wanted)
    except kubernetes.client.ApiException as e:
        if e.status == 404:
            return False
        metrics.RECONCILES.labels("entry", "error").inc()
        raise
    STATE.entries[key] = patched
    metrics.RECONCILES.labels("entry", state).inc()
    _update_entry_gauge()
    return _ready_reason(status, "True") != (state == "ready")


def _collision(key: tuple[str, str, str]) -> checks.Problem | None:
    """Two objects of different kinds with one name claim one entry id; the older one keeps it."""
    ns, plural, name = key
    mine = STATE.entries[key]["metadata"]
    for (ons, oplural, oname), other in STATE.entries.items():
        if ons == ns and oname == name and oplural != plural:
            theirs = other["metadata"]
            if (theirs.get("creationTimestamp"), oplural) < (mine.get("creationTimestamp"), plural):
                return checks.Problem("IdCollision", f"entry id is already claimed by {other['kind']} {oname}")
    return None


def _ids_of(ns: str, app: str | None) -> set[str]:
    return {(b.get("spec") or {}).get("id") for (ens, _, _), b in STATE.entries.items()
            if ens == ns and _app_of(b) == app}


def _replicas(ns: str, app: str | None) -> int | None:
    body = STATE.apps.get((ns, app)) if app else None
    if body is None:
        return None
    try:
        return WippyAppSpec.model_validate(body.get("spec") or {}).replicas
    except ValueError:
        return None


# reasons that depend on the app's other entries
MEMBERSHIP_REASONS = {"MissingReference", "IdCollision"}


def _reevaluate_app(ns: str, app: str | None, skip: tuple | None = None, problems_only: bool = False) -> None:
    """Re-check the app's entries (only those failing for want of another entry, if problems_only)."""
    for key, body in list(STATE.entries.items()):
        if problems_only and _ready_reason(body.get("status") or {}) not in MEMBERSHIP_REASONS:
            continue
        if key != skip and key[0] == ns and _app_of(body) == app:
            try:
                _reconcile_entry(key)
            except kubernetes.client.ApiException as e:
                log.warning("re-evaluating %s/%s: %s", key[1], key[2], e)
    if app and (ns, app) in STATE.apps:
        _reconcile_app((ns, app))


# ---------------------------------------------------------------------- apps
def _reconcile_app(key: tuple[str, str]) -> None:
    ns, app = key
    body = STATE.apps[key]
    meta, status = body["metadata"], body.get("status") or {}
    generation = meta.get("generation")
    http = {(b.get("spec") or {}).get("id"): (b.get("spec") or {}).get("addr", "")
            for b in _entries_of(ns, app) if _wippy_kind(b) == HTTP_SERVICE}
    try:
        wanted_children = children.render(body, http)
    except ValidationError as e:
        message = "; ".join(format_validation_errors(e, WippyAppSpec))
        return _patch_app(key, "stalled", "InvalidSpec", message, status, generation)
    digest = hashlib.sha256(json.dumps(wanted_children, sort_keys=True).encode()).hexdigest()[:16]
    if status.get("childrenHash") != digest or status.get("observedGeneration") != generation:
        try:
            for obj in wanted_children:
                STATE.api.apply(obj)
            keep = {o["metadata"]["name"] for o in wanted_children if o["kind"] == "Service"}
            for svc in STATE.api.list("v1", "Service", ns, f"{APP_LABEL}={app},{children.COMPONENT}=http"):
                if svc["metadata"]["name"] not in keep:
                    STATE.api.delete("v1", "Service", ns, svc["metadata"]["name"])
        except kubernetes.client.ApiException as e:
            kopf.warn(body, reason="ApplyFailed", message=str(e.reason))
            return _patch_app(key, "stalled", "ApplyFailed", f"{e.status} {e.reason}", status, generation)
    entries = _entries_of(ns, app)
    ready = sum(1 for b in entries if _ready_reason(b.get("status") or {}, "True"))
    if ready == len(entries):
        state, reason, message = "ready", "EntriesReady", f"{ready}/{len(entries)} entries ready"
    else:
        state, reason, message = "progressing", "WaitingForEntries", f"{ready}/{len(entries)} entries ready"
    _patch_app(key, state, reason, message, status, generation, entries=len(entries), childrenHash=digest)


def _patch_app(key, state, reason, message, status, generation, **extra) -> None:
    wanted = {"observedGeneration": generation, **extra,
              "conditions": conditions.conditions(state, reason, message, generation, status.get("conditions"))}
    if all(status.get(k) == v for k, v in wanted.items() if k != "conditions") and \
            conditions.same(status.get("conditions"), wanted["conditions"]):
        return
    try:
        STATE.apps[key] = STATE.api.patch_status(API_VERSION, "wippyapps", key[0], key[1], wanted)
    except kubernetes.client.ApiException as e:
        if e.status != 404:
            raise
    metrics.RECONCILES.labels("app", state).inc()


# ---------------------------------------------------------------------- helpers
def _app_of(body) -> str | None:
    return ((body.get("metadata") or {}).get("labels") or {}).get(APP_LABEL)


def _membership(body) -> tuple:
    return _app_of(body), (body.get("spec") or {}).get("id"), (body.get("spec") or {}).get("addr")


def _entries_of(ns: str, app: str) -> list[dict]:
    return [b for (ens, _, _), b in STATE.entries.items() if ens == ns and _app_of(b) == app]


def _wippy_kind(body: dict) -> str | None:
    kinds = PLURALS.get(plural_of(body["kind"])) or []
    return (body.get("spec") or {}).get("kind") or (kinds[0] if kinds else None)


def _ready_reason(status: dict, value: str | None = None) -> str | bool | None:
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    if value is not None:
        return bool(ready) and ready.get("status") == value
    return ready.get("reason") if ready else None


def _update_entry_gauge() -> None:
    counts = {"ready": 0, "progressing": 0, "stalled": 0}
    for b in STATE.entries.values():
        conds = {c.get("type"): c.get("status") for c in (b.get("status") or {}).get("conditions") or []}
        state = "ready" if conds.get("Ready") == "True" else "stalled" if conds.get("Stalled") == "True" else "progressing"
        counts[state] += 1
    for state, n in counts.items():
        metrics.ENTRIES.labels(state).set(n)


def ensure_peering(name: str) -> None:
    """Replicas meet in a ClusterKopfPeering object of this name; create it if nobody has."""
    try:
        kubernetes.config.load_incluster_config()
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config()
    api = kubernetes.client.CustomObjectsApi()
    try:
        api.create_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings",
                                         {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering",
                                          "metadata": {"name": name}})
    except kubernetes.client.ApiException as e:
        if e.status != 409:   # 409: another replica made it first
            raise
