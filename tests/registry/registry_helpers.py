"""Shared test helpers for registry tests."""

from __future__ import annotations

from wippy.registry import Entry, Op, Rejected, SourceLocation


class Recorder:
    """A kind handler that mirrors the ops it accepts into ``live`` (its side effect)."""

    def __init__(self, reject=None):
        self.seen: list[tuple[str, str]] = []
        self.live: dict[str, Entry] = {}
        self.reject = reject  # op -> message to refuse with, or None

    async def apply(self, op: Op) -> None:
        if self.reject is not None and (msg := self.reject(op)):
            raise Rejected(msg)
        self.seen.append((op.action, op.id))
        if op.action == "delete":
            del self.live[op.id]
        else:
            self.live[op.id] = op.entry


def lua_lib(entry_id: str, imports: dict | None = None, *, line: int | None = None, **meta) -> Entry:
    """A library.lua entry; keyword arguments go to meta, so tests can vary it freely."""
    src = SourceLocation("/app/_index.yaml", line) if line else None
    return Entry(entry_id, "library.lua", meta, {"source": "return {}", "imports": imports or {}}, src)


def host(entry_id: str) -> Entry:
    return Entry(entry_id, "process.host", {}, {})


def proc(entry_id: str) -> Entry:
    return Entry(entry_id, "process.lua", {}, {"source": "return {}", "method": "main"})


def service(entry_id: str, process: str, host_id: str, **data) -> Entry:
    return Entry(entry_id, "process.service", {}, {"process": process, "host": host_id, **data})
