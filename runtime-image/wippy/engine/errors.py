"""Structured errors shared by Python code and Lua's `errors` objects."""
from __future__ import annotations

from typing import Any

from ..redaction import redact

NOT_FOUND = "NotFound"
ALREADY_EXISTS = "AlreadyExists"
INVALID = "Invalid"
PERMISSION_DENIED = "PermissionDenied"
UNAVAILABLE = "Unavailable"
INTERNAL = "Internal"
CANCELED = "Canceled"
CONFLICT = "Conflict"
TIMEOUT = "Timeout"
RATE_LIMITED = "RateLimited"
UNKNOWN = ""


class WippyError(Exception):
    """An error with a kind; crosses into Lua as an `errors` object and back."""

    def __init__(self, kind: str, message: str, retryable: bool | None = None, details: Any = None):
        message = redact(message)   # a resolved secret never leaves in an error
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retryable = retryable
        self.details = details

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"WippyError({self.kind!r}, {self.message!r})"

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.retryable is not None:
            d["retryable"] = self.retryable
        if self.details is not None:
            d["details"] = self.details
        return d
