"""Built-in entries every runtime serves without them being in the registry: the test library
that test entries import as `wippy.test:test` (framework/testing.md), and the process a test
runs in."""
from __future__ import annotations

from functools import cache
from importlib import resources

from ..registry import Entry

BUILTIN_PREFIX = "wippy.test:"
TEST_LIBRARY = "wippy.test:test"
TEST_PROCESS = "wippy.test:run"


def _source(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text()


@cache
def _entries() -> dict[str, Entry]:
    return {
        TEST_LIBRARY: Entry(TEST_LIBRARY, "library.lua", {}, {"source": _source("test.lua")}),
        TEST_PROCESS: Entry(TEST_PROCESS, "process.lua", {},
                            {"source": _source("run_entry.lua"), "method": "main", "modules": ["funcs"]}),
    }


def builtin_entry(entry_id: str) -> Entry | None:
    return _entries().get(entry_id) if entry_id.startswith(BUILTIN_PREFIX) else None
