"""The examples are typed Lua and lint-clean, W-series rules included."""
from __future__ import annotations

from pathlib import Path

import pytest

from wippy.lang.lint import LUA_KINDS, Linter
from wippy.loader.tree import load_tree

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APPS = sorted(p.parent.name for p in EXAMPLES.glob("*/_index.yaml"))


@pytest.mark.parametrize("app", APPS)
def test_example_is_lint_clean(app):
    entries = load_tree(EXAMPLES / app).entries
    lua = [e for e in entries.values() if e.kind in LUA_KINDS]
    assert lua
    results = Linter(entries, rules=True).lint()
    problems = [f"{r.entry_id}:{d.line}: {d.code} {d.message}" for r in results for d in r.diagnostics]
    assert not problems


@pytest.mark.parametrize("app", APPS)
def test_example_is_written_in_typed_lua(app):
    sources = [e.data["source"] for e in load_tree(EXAMPLES / app).entries.values() if e.kind in LUA_KINDS]
    assert any(": " in s and ("type " in s or "): " in s) for s in sources), f"{app} has no type annotations"
