"""The node-wide event bus: `{system, kind, path, data}` events matched by dot-segment
patterns (`*` one segment, `**` any number, `(a|b)` alternation within a segment)."""
from __future__ import annotations

import itertools
import logging
from functools import lru_cache
from typing import Any, Callable

from wippy.registry.patterns import match_segments

log = logging.getLogger("wippy.events")


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> tuple:
    segs: list[str | frozenset[str]] = []
    for s in pattern.split("."):
        if s.startswith("(") and s.endswith(")") and "|" in s:
            segs.append(frozenset(s[1:-1].split("|")))
        else:
            segs.append(s)
    return tuple(segs)


def matches(pattern: str | None, value: str) -> bool:
    if pattern in (None, "", "**"):
        return True
    return match_segments(_compile(pattern), tuple(str(value).split(".")))


def valid_pattern(pattern: Any) -> bool:
    return isinstance(pattern, str) and pattern != "" and all(seg != "" for seg in pattern.split("."))


class EventBus:
    def __init__(self, node=None):
        self.node = node
        self._subs: dict[int, tuple[str, str | None, Callable[[dict], bool | None]]] = {}
        self._seq = itertools.count(1)
        self.sent = 0

    def subscribe(self, system: str, kind: str | None, deliver: Callable[[dict], bool | None]) -> int:
        sid = next(self._seq)
        self._subs[sid] = (system, kind or None, deliver)
        return sid

    def unsubscribe(self, sid: int) -> bool:
        return self._subs.pop(sid, None) is not None

    def send(self, system: str, kind: str, path: str = "", data: Any = None) -> int:
        """Deliver to every matching subscriber; a subscriber returning False is dropped."""
        self.sent += 1
        event = {"system": system, "kind": kind, "path": path or "", "data": data}
        n = 0
        for sid, (sp, kp, deliver) in list(self._subs.items()):
            if matches(sp, system) and (kp is None or matches(kp, kind)):
                try:
                    if deliver(event) is False:
                        self._subs.pop(sid, None)
                    else:
                        n += 1
                except Exception:
                    log.exception("event subscriber %s failed", sid)
        return n

    def __len__(self) -> int:
        return len(self._subs)
