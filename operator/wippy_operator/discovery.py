"""Re-discovery of API resources kopf missed.

kopf learns which resources exist from API discovery once, at startup, and afterwards rescans an
API group only when one of its CRDs changes. Discovery read while kube-apiserver is (re)starting
lacks whole groups for a moment (seen: apps, apiextensions.k8s.io, kopf.dev and wippy.ai all at
once), and kopf then never watches those resources: the operator runs but never sees an entry
again. Missing the peering CRD, it pauses every watch for good, saying nothing at INFO. This task rescans such groups, the way a CRD
change would, until kopf serves everything the handlers ask for.

It reaches into kopf's internals (insights, registry, observation), which have no public API.
"""
from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("wippy.operator.discovery")


def missing_groups(settings, registry, insights) -> set[str]:
    """API groups with a resource the handlers (or kopf itself) need that kopf does not serve."""
    from kopf._cogs.structs import references
    from kopf._core.engines import peering

    watched = set()
    for kind in ("_indexing", "_watching", "_spawning", "_changing"):
        watched |= getattr(registry, kind).get_all_selectors()
    groups = {s.group for s in watched if s.group is not None and not s.select(insights.watched_resources)}
    groups |= {s.group for s in (references.CRDS, references.NAMESPACES) if s not in insights.backbone}
    wanted = list(peering.guess_selectors(settings=settings))  # any one of them will do
    if wanted and not any(s in insights.backbone for s in wanted):
        groups.add(wanted[0].group)
    return groups


async def rediscover(settings, registry, insights, vault, interval: float = 5.0, longest: float = 300.0) -> None:
    from kopf._cogs.clients import auth
    from kopf._core.reactor import observation

    auth.vault_var.set(vault)  # kopf's API calls take the credentials from the operator's vault

    await insights.ready_resources.wait()  # kopf's own first scan
    delays: dict[str, float] = {}  # group -> seconds to the next rescan; grows while it stays missing
    due: dict[str, float] = {}
    loop = asyncio.get_running_loop()
    while True:
        try:
            missing = missing_groups(settings, registry, insights)
        except (AttributeError, ImportError, TypeError) as e:  # kopf's internals moved: run without it
            log.warning("re-discovery of missed API groups is off (kopf internals changed: %s)", e)
            return
        for group in set(delays) - missing:
            log.info("API group %r is served now", group or "core")
            delays.pop(group), due.pop(group)
        for group in sorted(missing):
            if group not in delays:
                log.warning("API group %r is not (fully) served after discovery; rescanning it", group or "core")
                delays[group], due[group] = interval, 0.0
            if loop.time() < due[group]:
                continue
            try:
                await observation.process_discovered_resource_event(
                    raw_event={"type": "MODIFIED", "object": {"spec": {"group": group}}},
                    settings=settings, registry=registry, insights=insights)
            except Exception as e:  # noqa: BLE001 - the API server may still be down: next round
                log.warning("rescanning API group %r: %s", group or "core", e)
            # a CRD that is really not installed costs a rescan every few minutes, not every few seconds
            due[group] = loop.time() + delays[group]
            delays[group] = min(delays[group] * 2, longest)
        await asyncio.sleep(interval)
