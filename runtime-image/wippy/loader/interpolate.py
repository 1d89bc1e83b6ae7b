"""``${env:NAME}`` placeholders, resolved when a kind decodes an entry.

Forms: ``${env:NAME}``, ``${env:NAME|default}``, ``${NAME}`` and ``${NAME|default}``
(bare names only in UPPER_SNAKE, so Lua or shell text like ``${x}`` is left alone),
and ``$${`` for a literal ``${``. Entries keep the raw strings, so secrets never land
in the registry or its history.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Lookup = Callable[[str], "str | None"]

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_BARE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


class InterpolationError(ValueError):
    pass


def resolve_env(value: Any, lookup: Lookup, *, path: str = "") -> Any:
    """Resolve placeholders in every string of ``value`` (dicts and lists recursively)."""
    if isinstance(value, str):
        return _resolve_string(value, lookup, path)
    if isinstance(value, dict):
        return {k: resolve_env(v, lookup, path=f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_env(v, lookup, path=f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _resolve_string(text: str, lookup: Lookup, path: str) -> str:
    if "${" not in text:
        return text

    def replace(match: re.Match) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group(1)
        name, has_default, default = body.partition("|")
        if name.startswith("env:"):
            name = name[len("env:"):].strip()
        elif not _BARE_NAME.fullmatch(name):
            return match.group(0)  # not a placeholder: left as written
        if not name:
            raise InterpolationError(f"{_where(path)}empty variable name in {match.group(0)!r}")
        found = lookup(name)
        if found is not None:
            return found
        if has_default:
            return default
        raise InterpolationError(
            f"{_where(path)}environment variable {name!r} is not set and {match.group(0)!r} has no default "
            f"(write ${{env:{name}|default}} to give one)"
        )

    return _TOKEN.sub(replace, text)


def placeholders(data: Any, path: str = "") -> list[str]:
    """Paths of the strings in an entry's data that hold a placeholder (`source` excepted)."""
    if isinstance(data, str):
        found = [m for m in _TOKEN.finditer(data) if m.group(0) != "$${"]
        names = [m.group(1).partition("|")[0] for m in found]
        return [path] if any(n.startswith("env:") or _BARE_NAME.fullmatch(n) for n in names) else []
    if isinstance(data, dict):
        out = []
        for k, v in data.items():
            if not (path == "" and k == "source"):
                out += placeholders(v, f"{path}.{k}" if path else str(k))
        return out
    if isinstance(data, list):
        return [p for i, v in enumerate(data) for p in placeholders(v, f"{path}[{i}]")]
    return []


def _where(path: str) -> str:
    return f"field '{path}': " if path else ""


def resolve_entry_data(data: Any, lookup: Lookup) -> Any:
    """An entry's data with placeholders resolved, except in `source`: `${` is plain text in code."""
    if not isinstance(data, dict):
        return data
    return {k: v if k == "source" else resolve_env(v, lookup, path=k) for k, v in data.items()}
