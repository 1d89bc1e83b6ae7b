"""Option tables from Lua (`process.with_options`, `funcs.new():with_options`) -> temporalio.

Keys may be flat (`["temporal.workflow.id"] = ...`) or nested (`{temporal = {workflow = {id = ...}}}`).
Durations are Go strings ("5s") or numbers of milliseconds (reference §2.1).
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from ..durations import parse_duration
from ..engine.errors import WippyError, INVALID


def flatten(opts: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(opts, dict):
        return out
    for k, v in opts.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not _leaf_table(key):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _leaf_table(key: str) -> bool:
    return key.endswith(("retry_policy", "memo", "search_attributes"))


def duration(v: Any, what: str) -> timedelta:
    try:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return timedelta(milliseconds=v)
        return timedelta(seconds=parse_duration(v))
    except (ValueError, TypeError) as e:
        raise WippyError(INVALID, f"{what}: {e}") from None


def retry_policy(v: Any, what: str) -> RetryPolicy:
    if not isinstance(v, dict):
        raise WippyError(INVALID, f"{what} must be a table")
    kw: dict[str, Any] = {}
    if "initial_interval" in v:
        kw["initial_interval"] = duration(v["initial_interval"], what + ".initial_interval")
    if "maximum_interval" in v:
        kw["maximum_interval"] = duration(v["maximum_interval"], what + ".maximum_interval")
    if "backoff_coefficient" in v:
        kw["backoff_coefficient"] = float(v["backoff_coefficient"])
    if "maximum_attempts" in v:
        kw["maximum_attempts"] = int(v["maximum_attempts"])
    if v.get("non_retryable_error_types"):
        kw["non_retryable_error_types"] = list(v["non_retryable_error_types"])
    return RetryPolicy(**kw)


_CONFLICT = {"use_existing": WorkflowIDConflictPolicy.USE_EXISTING, "fail": WorkflowIDConflictPolicy.FAIL,
             "terminate_existing": WorkflowIDConflictPolicy.TERMINATE_EXISTING}
_REUSE = {"allow_duplicate": WorkflowIDReusePolicy.ALLOW_DUPLICATE,
          "allow_duplicate_failed_only": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
          "reject_duplicate": WorkflowIDReusePolicy.REJECT_DUPLICATE,
          "terminate_if_running": WorkflowIDReusePolicy.TERMINATE_IF_RUNNING}


def _enum(table: dict, v: Any, what: str):
    try:
        return table[str(v).lower()]
    except KeyError:
        raise WippyError(INVALID, f"{what}: unknown value {v!r} (one of {', '.join(table)})") from None


def start_options(opts: Any) -> tuple[str | None, dict[str, Any]]:
    """-> (explicit workflow id or None, keyword arguments shared by start_workflow and
    start_child_workflow)."""
    flat = {k[len("temporal.workflow."):]: v for k, v in flatten(opts).items() if k.startswith("temporal.workflow.")}
    kw: dict[str, Any] = {}
    wid = flat.pop("id", None)
    for key, arg in (("execution_timeout", "execution_timeout"), ("run_timeout", "run_timeout"),
                     ("task_timeout", "task_timeout"), ("start_delay", "start_delay")):
        if key in flat:
            kw[arg] = duration(flat.pop(key), "temporal.workflow." + key)
    if "task_queue" in flat:
        kw["task_queue"] = str(flat.pop("task_queue"))
    if "id_conflict_policy" in flat:
        kw["id_conflict_policy"] = _enum(_CONFLICT, flat.pop("id_conflict_policy"), "id_conflict_policy")
    if "id_reuse_policy" in flat:
        kw["id_reuse_policy"] = _enum(_REUSE, flat.pop("id_reuse_policy"), "id_reuse_policy")
    if "retry_policy" in flat:
        kw["retry_policy"] = retry_policy(flat.pop("retry_policy"), "temporal.workflow.retry_policy")
    if "cron_schedule" in flat:
        kw["cron_schedule"] = str(flat.pop("cron_schedule"))
    if "memo" in flat:
        kw["memo"] = dict(flat.pop("memo") or {})
    for key in ("parent_close_policy", "wait_for_cancellation", "execution_error_when_already_started",
                "enable_eager_start", "namespace", "search_attributes"):
        if key in flat:
            kw["_" + key] = flat.pop(key)
    if flat:
        raise WippyError(INVALID, f"unknown workflow start option(s): {', '.join('temporal.workflow.' + k for k in sorted(flat))}")
    return (str(wid) if wid is not None else None), kw


DEFAULT_START_TO_CLOSE = timedelta(minutes=10)


def activity_options(opts: Any) -> dict[str, Any]:
    flat = {k[len("activity."):]: v for k, v in flatten(opts).items() if k.startswith("activity.")}
    kw: dict[str, Any] = {}
    for key in ("start_to_close_timeout", "schedule_to_close_timeout", "schedule_to_start_timeout",
                "heartbeat_timeout"):
        if key in flat:
            kw[key] = duration(flat.pop(key), "activity." + key)
    if "start_to_close_timeout" not in kw and "schedule_to_close_timeout" not in kw:
        kw["start_to_close_timeout"] = DEFAULT_START_TO_CLOSE
    if "id" in flat:
        kw["activity_id"] = str(flat.pop("id"))
    if "task_queue" in flat:
        kw["task_queue"] = str(flat.pop("task_queue"))
    if "retry_policy" in flat:
        kw["retry_policy"] = retry_policy(flat.pop("retry_policy"), "activity.retry_policy")
    if "disable_eager_execution" in flat:
        kw["disable_eager_execution"] = bool(flat.pop("disable_eager_execution"))
    if "wait_for_cancellation" in flat:
        from temporalio.workflow import ActivityCancellationType
        if flat.pop("wait_for_cancellation"):
            kw["cancellation_type"] = ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
    if flat:
        raise WippyError(INVALID, f"unknown activity option(s): {', '.join('activity.' + k for k in sorted(flat))}")
    return kw
