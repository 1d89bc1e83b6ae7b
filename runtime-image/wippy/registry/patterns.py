"""Kind patterns for handler registration, dot-segment wildcards as on the event bus.

``*`` matches one segment, ``**`` any number (including none), anything else
matches the segment literally: ``http.*`` matches ``http.router``, and
``function.lua.**`` matches both ``function.lua`` and ``function.lua.bc``.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4096)
def kind_matches(pattern: str, kind: str) -> bool:
    return match_segments(tuple(pattern.split(".")), tuple(kind.split(".")))


def match_segments(pat: tuple, parts: tuple) -> bool:
    """Dot-segment matching shared with the event bus: a segment is a literal, `*`, `**`, or a
    frozenset of alternatives (the bus's `(a|b)`)."""
    if not pat:
        return not parts
    head, rest = pat[0], pat[1:]
    if head == "**":
        return any(match_segments(rest, parts[i:]) for i in range(len(parts) + 1))
    if not parts:
        return False
    ok = parts[0] in head if isinstance(head, frozenset) else head == "*" or head == parts[0]
    return ok and match_segments(rest, parts[1:])
