"""Whether the runtime pods of an app serve an entry's active revision (from their reports).

Each runtime pod merge-patches `status.applied.<pod> = {revision, generation, error, time}`.
"""
from __future__ import annotations


def entry_state(active: int, replicas: int | None, applied: dict, live_pods: set[str] | None) -> tuple[str, str, str]:
    """(state, reason, message) for a valid entry whose active revision is `active`.

    `replicas` is None when no WippyApp runs the entry; `live_pods` is None when the pods cannot be
    seen (then every report counts), else reports of vanished pods are ignored and silent pods wait.
    """
    if replicas == 0:
        return "ready", "ScaledToZero", f"revision {active} recorded; the app has no replicas"
    if replicas is None:
        return "progressing", "NoApp", f"revision {active} recorded; no WippyApp runs this entry yet"
    reports = {p: r for p, r in (applied or {}).items() if isinstance(r, dict)}
    pods = set(reports) if live_pods is None else live_pods
    failed = sorted(p for p in pods if (reports.get(p) or {}).get("error") and _about(reports[p], active))
    if failed:
        return "stalled", "ApplyFailed", f"pod {failed[0]}: {reports[failed[0]]['error']}"
    serving = sorted(p for p in pods if (reports.get(p) or {}).get("revision") == active
                     and not reports[p].get("error"))
    if not pods:
        return "progressing", "WaitingForPods", f"revision {active}: no runtime pod has reported yet"
    if len(serving) < len(pods):
        return "progressing", "RollingOut", f"{len(serving)}/{len(pods)} pods serve revision {active}"
    return "ready", "Serving", f"{len(serving)}/{len(pods)} pods serve revision {active}"


def _about(report: dict, active: int) -> bool:
    # an error with no revision is about the newest spec (the pod could not apply it at all)
    return report.get("revision") in (None, active)


_RANK = {"stalled": 0, "progressing": 1, "ready": 2}


def least_advanced(states: dict[str | None, tuple[str, str, str]]) -> tuple[str, str, str]:
    """One state for an entry from its state in each app that runs it: the least advanced app's,
    named when there are several."""
    name, (state, reason, message) = min(sorted(states.items(), key=lambda kv: str(kv[0])),
                                         key=lambda kv: _RANK[kv[1][0]])
    return state, reason, message if len(states) == 1 else f"WippyApp {name}: {message}"
