"""Command-line and config overrides: ``-o ns:entry:path=value``.

The path is ``kind`` (change the kind), ``meta.x.y`` (a meta field), ``data.x.y``
or plain ``x.y`` (a data field). Values given on the command line are coerced by
shape: true/false, integers, floats, otherwise the string.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from wippy.registry.entry import Entry, InvalidEntryId, parse_id


class OverrideError(ValueError):
    pass


@dataclass(frozen=True)
class Override:
    entry_id: str
    target: str  # "kind", "meta" or "data"
    path: tuple[str, ...]  # field path inside meta/data; empty replaces it whole
    value: Any

    @classmethod
    def from_key(cls, key: str, value: Any) -> Override:
        """From a config ``override:`` mapping, where values are already typed."""
        ns, sep, rest = key.partition(":")
        name, sep2, field_path = rest.partition(":")
        if not (sep and sep2 and field_path):
            raise OverrideError(f"invalid override {key!r}: expected 'namespace:entry:path'")
        try:
            entry_id = f"{ns}:{name}"
            parse_id(entry_id)
        except InvalidEntryId as e:
            raise OverrideError(f"invalid override {key!r}: {e}") from None
        parts = tuple(field_path.split("."))
        if any(not p for p in parts):
            raise OverrideError(f"invalid override {key!r}: empty segment in path {field_path!r}")
        if parts == ("kind",):
            if not isinstance(value, str) or not value:
                raise OverrideError(f"invalid override {key!r}: kind must be a non-empty string")
            return cls(entry_id, "kind", (), value)
        if parts[0] in ("meta", "data"):
            return cls(entry_id, parts[0], parts[1:], value)
        return cls(entry_id, "data", parts, value)

    def __str__(self) -> str:
        path = ".".join((self.target, *self.path)) if self.target != "kind" else "kind"
        return f"{self.entry_id}:{path}={self.value!r}"


def parse_override(text: str) -> Override:
    """From ``-o``/``--set``: ``ns:entry:path=value``, value coerced by shape."""
    key, sep, raw = text.partition("=")
    if not sep:
        raise OverrideError(f"invalid override {text!r}: expected 'namespace:entry:path=value'")
    return Override.from_key(key.strip(), coerce(raw))


_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


def coerce(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    if _INT.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    return raw


def apply_overrides(entries: Mapping[str, Entry], overrides: Iterable[Override]) -> dict[str, Entry]:
    """Return a new mapping with each override applied; an unknown entry is an error."""
    out = dict(entries)
    for o in overrides:
        entry = out.get(o.entry_id)
        if entry is None:
            raise OverrideError(f"override {o}: no entry {o.entry_id}")
        if o.target == "kind":
            out[o.entry_id] = replace(entry, kind=o.value)
        elif o.target == "meta":
            out[o.entry_id] = replace(entry, meta=_set(entry.meta, o.path, o.value, o))
        else:
            out[o.entry_id] = replace(entry, data=_set(entry.data, o.path, o.value, o))
    return out


def _set(container: Any, path: tuple[str, ...], value: Any, o: Override) -> Any:
    if not path:
        return copy.deepcopy(value)
    if container is None:
        container = {}
    if not isinstance(container, dict):
        raise OverrideError(f"override {o}: cannot set field {path[0]!r} on a {type(container).__name__}")
    updated = dict(container)
    updated[path[0]] = _set(container.get(path[0]), path[1:], value, o)
    return updated
