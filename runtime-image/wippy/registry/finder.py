"""Registry filters, as ``registry.find`` and the CLI ``--meta`` take them.

Root keys ``.kind``, ``.name``, ``.ns``, ``.id`` match a glob (exact without
wildcards). ``meta.<path>`` values take an operator prefix: none = glob,
``~`` regex search, ``*`` contains, ``^`` prefix, ``$`` suffix. The older short
form uses bare keys: ``kind``, ``name``, ``namespace``/``ns``, anything else is a
meta field. All conditions must hold.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from wippy.registry.entry import Entry

Predicate = Callable[[Entry], bool]

_ROOT_FIELDS: dict[str, Callable[[Entry], str]] = {
    "kind": lambda e: e.kind,
    "name": lambda e: e.name,
    "ns": lambda e: e.ns,
    "namespace": lambda e: e.ns,
    "id": lambda e: e.id,
}
_SHORT_ROOT = {"kind", "name", "ns", "namespace"}
_MISSING = object()


def find(entries: Iterable[Entry], filter: Mapping[str, Any]) -> list[Entry]:
    matches = compile_filter(filter)
    return [e for e in entries if matches(e)]


def compile_filter(filter: Mapping[str, Any]) -> Predicate:
    """Build a predicate; raises ValueError for an unknown key or a bad regex."""
    conditions = [_condition(key, value) for key, value in filter.items()]
    return lambda entry: all(cond(entry) for cond in conditions)


def _condition(key: str, value: Any) -> Predicate:
    if key.startswith("."):
        root = key[1:]
        if root not in _ROOT_FIELDS or root == "namespace":
            raise ValueError(f"unknown filter key {key!r}: root keys are .kind, .name, .ns, .id")
        return _root_condition(key, root, value)
    if key.startswith("meta."):
        return _meta_condition(key, key[len("meta."):].split("."), value)
    if "." in key:
        raise ValueError(f"unknown filter key {key!r}: use .kind/.name/.ns/.id or meta.<field>")
    if key in _SHORT_ROOT:
        return _root_condition(key, key, value)
    return _meta_condition(key, [key], value)


def _root_condition(key: str, root: str, value: Any) -> Predicate:
    if not isinstance(value, str):
        raise ValueError(f"filter {key!r}: expected a string, got {value!r}")
    get = _ROOT_FIELDS[root]
    if _has_wildcard(value):
        return lambda e: fnmatch.fnmatchcase(get(e), value)
    return lambda e: get(e) == value


def _meta_condition(key: str, path: list[str], value: Any) -> Predicate:
    match = _value_matcher(key, value)

    def check(entry: Entry) -> bool:
        found = _lookup(entry.meta, path)
        if found is _MISSING:
            return False
        if isinstance(found, list):
            return any(match(item) for item in found)
        return match(found)

    return check


def _value_matcher(key: str, value: Any) -> Callable[[Any], bool]:
    if not isinstance(value, str):
        return lambda found: found == value
    op, arg = value[:1], value[1:]
    if op == "~":
        try:
            rx = re.compile(arg)
        except re.error as e:
            raise ValueError(f"filter {key!r}: invalid regex {arg!r}: {e}") from None
        return lambda found: rx.search(_text(found)) is not None
    if op == "*":
        return lambda found: arg in _text(found)
    if op == "^":
        return lambda found: _text(found).startswith(arg)
    if op == "$":
        return lambda found: _text(found).endswith(arg)
    if _has_wildcard(value):
        return lambda found: fnmatch.fnmatchcase(_text(found), value)
    return lambda found: _text(found) == value


def _text(value: Any) -> str:
    # Booleans compare the way they were written in YAML/Lua.
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _lookup(meta: Any, path: list[str]) -> Any:
    for part in path:
        if not isinstance(meta, Mapping) or part not in meta:
            return _MISSING
        meta = meta[part]
    return meta


def _has_wildcard(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
