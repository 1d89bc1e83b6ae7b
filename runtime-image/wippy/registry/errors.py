"""Errors a registry apply can end with, formatted for the person who wrote the entries."""

from __future__ import annotations

import difflib
import types
import typing
from typing import NamedTuple

from pydantic import BaseModel, ValidationError

from wippy.registry.entry import SourceLocation


class Rejected(Exception):
    """Raised by a kind handler to refuse an op; the message is shown to the user."""


class EntryError(NamedTuple):
    entry_id: str | None
    message: str
    source: SourceLocation | None = None

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        what = f"entry {self.entry_id}: " if self.entry_id else ""
        return f"{where}{what}{self.message}"


class ApplyError(Exception):
    """A changeset that did not land; registry state and version are unchanged.

    ``kind`` follows the runtime's error kinds: Invalid, NotFound, AlreadyExists,
    Conflict, Rejected, Internal.
    """

    def __init__(self, errors: list[EntryError], *, kind: str = "Invalid", summary: str = "changeset rejected"):
        self.errors = [EntryError(*e) for e in errors]
        self.kind = kind
        self.summary = summary
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.errors) == 1:
            return f"{self.summary}: {self.errors[0]}"
        lines = [f"{self.summary} ({len(self.errors)} errors):"]
        lines += [f"  {e}" for e in self.errors]
        return "\n".join(lines)

    @classmethod
    def single(cls, message: str, *, kind: str = "Invalid", entry_id: str | None = None,
               source: SourceLocation | None = None) -> ApplyError:
        return cls([EntryError(entry_id, message, source)], kind=kind)


class Conflict(ApplyError):
    """The registry head moved since the version the caller expected."""

    def __init__(self, expected: int, actual: int):
        super().__init__(
            [EntryError(None, f"expected registry version {expected}, but head is {actual}")],
            kind="Conflict",
            summary="conflict",
        )
        self.expected = expected
        self.actual = actual


def describe_exception(exc: BaseException) -> str:
    """A one-line, user-facing description of a validation or handler failure."""
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str):
        return reason
    if isinstance(exc, ValidationError):
        return "; ".join(format_validation_errors(exc))
    if isinstance(exc, (Rejected, ValueError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def format_validation_errors(exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """``field 'a.b[0]': message`` for each pydantic error, in plain words. With the
    model, an unknown field names the closest known one.
    """
    out = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        path = _loc_path(loc)
        msg = _plain_message(err)
        if err.get("type") == "extra_forbidden" and model is not None and loc:
            msg += _suggest(str(loc[-1]), _fields_at(model, loc[:-1]))
        out.append(f"field '{path}': {msg}" if path else msg)
    return out


def _suggest(name: str, known: list[str]) -> str:
    if not known:
        return ""
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (known fields: {', '.join(sorted(known))})"


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names of the nested model found at ``loc`` (list indexes and dict keys skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is not None:
            current = _model_in(field.annotation)
    return list(current.model_fields) if current is not None else []


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _loc_path(loc: tuple) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _plain_message(err: typing.Mapping[str, typing.Any]) -> str:
    if err.get("type") == "extra_forbidden":
        return "unknown field"
    msg = str(err.get("msg", ""))
    # pydantic prefixes errors raised by our validators.
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg[:1].lower() + msg[1:]
