"""kstatus conditions: Ready, Reconciling and Stalled, with observedGeneration.

`kubectl wait --for=condition=Ready`, Helm `--wait`, Flux and Argo CD all read these.
"""
from __future__ import annotations

import datetime as dt


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def conditions(state: str, reason: str, message: str, generation: int | None, old: list[dict] | None) -> list[dict]:
    """state: 'ready', 'progressing' (Reconciling) or 'stalled'; times kept while a status holds."""
    values = {"Ready": state == "ready", "Reconciling": state == "progressing", "Stalled": state == "stalled"}
    previous = {c.get("type"): c for c in old or []}
    out = []
    for kind, value in values.items():
        status = "True" if value else "False"
        before = previous.get(kind) or {}
        out.append({
            "type": kind, "status": status,
            "reason": reason if value or kind == "Ready" else "Not" + kind,
            "message": message if value or kind == "Ready" else "",
            "observedGeneration": generation,
            "lastTransitionTime": before["lastTransitionTime"] if before.get("status") == status else now(),
        })
    return out


def same(a: list[dict] | None, b: list[dict] | None) -> bool:
    """Equal but for transition times."""
    strip = lambda cs: [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in cs or []]  # noqa: E731
    return strip(a) == strip(b)
