"""Errors across the Temporal boundary: kind, message and retryable are kept.

A Wippy error leaves as an ApplicationError whose `type` is the kind and whose first detail
is {kind, retryable, details}; coming back, that detail (or the failure class) rebuilds it.
"""
from __future__ import annotations

from typing import Any

from temporalio.exceptions import (ActivityError, ApplicationError, CancelledError, ChildWorkflowError,
                                   FailureError, TerminatedError, TimeoutError as TemporalTimeout)

from ..engine.errors import WippyError, CANCELED, INTERNAL, TIMEOUT


def to_application_error(err: WippyError) -> ApplicationError:
    detail = {"kind": err.kind, "retryable": err.retryable}
    if err.details is not None and not isinstance(err.details, str):
        detail["details"] = err.details
    return ApplicationError(err.message, detail, type=err.kind or "Error",
                            non_retryable=err.retryable is not True)


def from_failure(exc: BaseException | None) -> WippyError:
    """The innermost meaningful cause of a Temporal failure as a WippyError."""
    seen = 0
    while isinstance(exc, (ActivityError, ChildWorkflowError)) and exc.cause is not None and seen < 16:
        exc, seen = exc.cause, seen + 1
    if exc is not None and hasattr(exc, "cause") and type(exc).__name__ == "WorkflowFailureError":
        return from_failure(exc.cause)
    if isinstance(exc, ApplicationError):
        d = exc.details[0] if exc.details and isinstance(exc.details[0], dict) else None
        if d is not None and "kind" in d:
            return WippyError(d.get("kind") or "", exc.message, d.get("retryable"), d.get("details"))
        return WippyError(exc.type or "", exc.message, not exc.non_retryable)
    if isinstance(exc, TemporalTimeout):
        return WippyError(TIMEOUT, f"timed out ({exc.type.name.lower() if exc.type else 'timeout'})", True)
    if isinstance(exc, CancelledError):
        return WippyError(CANCELED, exc.message or "canceled", False)
    if isinstance(exc, TerminatedError):
        return WippyError("Terminated", exc.message or "terminated", False)
    if isinstance(exc, FailureError):
        return WippyError(INTERNAL, exc.message, False)
    if isinstance(exc, WippyError):
        return exc
    return WippyError(INTERNAL, f"{type(exc).__name__}: {exc}", False)


def detail_of(value: Any) -> Any:
    return value
