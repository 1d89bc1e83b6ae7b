"""Engine-level fixtures: a node with in-memory entries, no registry or files."""
from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any

import pytest

from wippy.engine.engine import Engine
from wippy.engine.node import Node

HOST = "app:host"


@dataclass
class FakeEntry:
    id: str
    kind: str
    data: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)


class LuaApp:
    """A node with one engine and entries declared inline by the test."""

    def __init__(self, **engine_opts: Any):
        self.entries: dict[str, FakeEntry] = {}
        self.node = Node("test", self.entries.get)
        self.engine = Engine(self.node, HOST, **engine_opts)
        self.node.add_host(HOST, self.engine)

    def add(self, entry_id: str, kind: str, source: str, method: str | None = "main", **data: Any) -> None:
        data = dict(data, source=textwrap.dedent(source))
        if method:
            data["method"] = method
        self.entries[entry_id] = FakeEntry(entry_id, kind, data)
        self.node.entry_changed(entry_id)

    def process(self, entry_id: str, source: str, **data: Any) -> None:
        self.add(entry_id, "process.lua", source, **data)

    def function(self, entry_id: str, source: str, **data: Any) -> None:
        self.add(entry_id, "function.lua", source, **data)

    async def run(self, source: str, *args: Any, modules: list[str] | None = None, **data: Any) -> Any:
        """Run `source` as the main of a process and return its result (raises on error)."""
        self.process("app:main", source, modules=modules or [], **data)
        return await self.node.exec("app:main", HOST, list(args))


@pytest.fixture
async def app() -> LuaApp:
    return LuaApp()


@pytest.fixture
def make_app():
    return LuaApp
