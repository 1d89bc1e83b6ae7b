"""kstatus conditions: Ready, Reconciling and Stalled, with observedGeneration.

`kubectl wait --for=condition=Ready`, Helm `--wait`, Flux and Argo CD all read these. Ready is
always there; Reconciling and Stalled ("abnormal-true" in kstatus' terms) only while True: a False
one tells no reader anything that their absence does not, and every byte of a status is stored,
sent to each watcher and decoded again, thousands of times in a burst.
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
        if not value and kind != "Ready":
            continue
        status = "True" if value else "False"
        before = previous.get(kind) or {}
        out.append({
            "type": kind, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": before["lastTransitionTime"] if before.get("status") == status else now(),
        })
    return out


def same(a: list[dict] | None, b: list[dict] | None) -> bool:
    """Equal but for transition times."""
    strip = lambda cs: [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in cs or []]  # noqa: E731
    return strip(a) == strip(b)
