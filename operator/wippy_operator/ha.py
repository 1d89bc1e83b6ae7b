"""Several operator replicas, one active: kopf peering, plus what kopf leaves to the operator.

Replicas sharing a peering name meet in a kopf peering object (ClusterKopfPeering, or one
KopfPeering per watched namespace), each writing a heartbeat with its priority into its status.
A replica pauses all its watches while a live peer has a higher (or the same) priority, and
resumes when that peer's heartbeat expires (its lifetime). kopf expects the objects to exist;
without them it pauses forever, so they are created here first.
"""
from __future__ import annotations

import asyncio
import datetime
import functools
import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

import kubernetes
import urllib3

log = logging.getLogger("wippy.operator.ha")
GROUP, VERSION = "kopf.dev", "v1"


def own_identity() -> str:
    """The replica's name in the peering: the pod's name (POD_ID, as kopf reads it; the chart sets
    it), so a container restarted in the same pod replaces its own heartbeat instead of standing by
    until it expires; outside a pod, host and pid."""
    return os.environ.get("POD_ID") or f"{socket.gethostname()}-{os.getpid()}"


def _transient(e: Exception) -> bool:
    # while kube-apiserver starts, CRD-backed resources are served a moment after the rest (404)
    # and RBAC is enforced before its caches hold every binding (401/403): all retried
    if isinstance(e, kubernetes.client.ApiException):
        return e.status in (401, 403, 404, 429) or e.status >= 500
    return isinstance(e, (OSError, urllib3.exceptions.HTTPError))


def _why(name: str, e: kubernetes.client.ApiException) -> str:
    """What to fix when an error outlasted the retries."""
    if e.status == 404:
        return (f"the kopf peering CRDs are not installed (install helm/files/crds/kopf.dev_*.yaml) or run without "
                f"--peering; creating peering {name!r}: {e.status} {e.reason}")
    if e.status in (401, 403):
        return (f"the operator may not create its peering {name!r} ({e.status} {e.reason}): its ServiceAccount "
                "needs create on clusterkopfpeerings/kopfpeerings.kopf.dev (the chart's ClusterRole grants it)")
    return f"cannot create the kopf peering {name!r}: {e.status} {e.reason}"


def ensure_peering(name: str, namespaces: list[str], timeout: float = 300.0) -> None:
    """Create the peering object(s) unless another replica has; retried with backoff while the API
    server is unreachable, starting, or not serving the peering CRDs yet."""
    api = kubernetes.client.CustomObjectsApi()
    body = {"apiVersion": f"{GROUP}/{VERSION}", "metadata": {"name": name}}
    if namespaces:
        # namespace patterns (globs) cannot be created ahead: their peerings are the user's to make
        targets = [ns for ns in namespaces if not any(c in ns for c in "*?[!")]
        creates: list[Callable[[], object]] = [functools.partial(api.create_namespaced_custom_object,
            GROUP, VERSION, ns, "kopfpeerings", {**body, "kind": "KopfPeering"}) for ns in targets]
    else:
        creates = [lambda: api.create_cluster_custom_object(
            GROUP, VERSION, "clusterkopfpeerings", {**body, "kind": "ClusterKopfPeering"})]
    deadline = time.monotonic() + timeout
    for create in creates:
        delay = 0.5
        while True:
            try:
                create()
                break
            except kubernetes.client.ApiException as e:
                if e.status == 409:  # another replica made it first
                    break
                if not _transient(e) or time.monotonic() > deadline:
                    raise SystemExit(_why(name, e)) from e
                log.warning("creating the kopf peering %r: %s %s; retrying in %.1fs", name, e.status, e.reason, delay)
            except Exception as e:  # noqa: BLE001 - connection errors of several kinds
                if not _transient(e) or time.monotonic() > deadline:
                    raise
                log.warning("creating the kopf peering %r: %s; retrying in %.1fs", name, e, delay)
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def role(status: dict, identity: str, priority: int, now: datetime.datetime | None = None) -> str:
    """kopf's rule, read from a peering object's status: standby while a live peer has a higher
    priority (or the same: then every such replica pauses), otherwise active."""
    now = now or datetime.datetime.now(datetime.UTC)
    higher: list[str] = []
    same: list[str] = []
    for peer, info in (status or {}).items():
        if peer == identity or not isinstance(info, dict):
            continue
        try:
            seen = datetime.datetime.fromisoformat(info["lastseen"])
        except (KeyError, TypeError, ValueError):
            continue
        if seen.tzinfo is None:
            seen = seen.replace(tzinfo=datetime.UTC)
        if seen + datetime.timedelta(seconds=int(info.get("lifetime", 60))) <= now:
            continue  # dead: its heartbeat expired
        prio = int(info.get("priority", 0))
        (higher if prio > priority else same if prio == priority else []).append(peer)
    if higher:
        return f"standby: {', '.join(sorted(higher))} has a higher priority and is active"
    if same:
        return f"standby: {', '.join(sorted(same))} has the same priority; all of them pause"
    return "active"


async def report_role(name: str, namespaces: list[str], identity: str, priority: int,
                      interval: float = 5.0) -> None:
    """Log this replica's role when it changes. kopf starts every replica paused and logs only
    changes, so a standby's log would otherwise end at "Initial authentication has finished", which
    reads as a hang."""
    api = kubernetes.client.CustomObjectsApi()
    last = None

    def read() -> list[Any]:   # the peering objects (the client types them as object)
        if namespaces:
            return [api.get_namespaced_custom_object(GROUP, VERSION, ns, "kopfpeerings", name)
                    for ns in namespaces if not any(c in ns for c in "*?[!")]
        return [api.get_cluster_custom_object(GROUP, VERSION, "clusterkopfpeerings", name)]

    while True:
        try:
            roles = {role(obj.get("status") or {}, identity, priority) for obj in await asyncio.to_thread(read)}
            if not roles:
                return  # only namespace patterns: their peerings are not known here
            now = next((r for r in sorted(roles) if r != "active"), "active")
            if now != last:
                log.info("peering %r: %s is %s", name, identity, now)
                last = now
        except Exception as e:  # noqa: BLE001 - a report, never a reason to stop the operator
            log.debug("reading the peering %r: %s", name, e)
        await asyncio.sleep(interval)
