"""Kind patterns for handler registration, dot-segment wildcards as on the event bus.

``*`` matches one segment, ``**`` any number (including none), anything else
matches the segment literally: ``http.*`` matches ``http.router``, and
``function.lua.**`` matches both ``function.lua`` and ``function.lua.bc``.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def kind_matches(pattern: str, kind: str) -> bool:
    return _match(tuple(pattern.split(".")), tuple(kind.split(".")))


def _match(pat: tuple[str, ...], parts: tuple[str, ...]) -> bool:
    if not pat:
        return not parts
    head, rest = pat[0], pat[1:]
    if head == "**":
        return any(_match(rest, parts[i:]) for i in range(len(parts) + 1))
    if not parts:
        return False
    return (head == "*" or head == parts[0]) and _match(rest, parts[1:])
