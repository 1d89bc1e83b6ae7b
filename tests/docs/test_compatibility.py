"""docs/compatibility.md stays true: what the runtime registers is in the table, and marked so.

The table is checked against the runtime's own registries (kind models, Lua modules, router
middleware). Where the Wippy documentation is at hand (WIPPY_DOCS, or ../shared/wippy-docs of
the main checkout), it is also checked to list every kind, module page and middleware the
documentation names.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from wippy.http import middleware
from wippy.kinds.models.catalog import MODELS
from wippy.modules import BY_NAME, INTERNAL

from tests.harness.wippy_docs import ABSENT, DOCS

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "docs" / "compatibility.md"
STATES = {"✓", "partial", "missing", "not planned"}
IMPLEMENTED = {"✓", "partial"}


def _docs_dir() -> Path:
    assert DOCS is not None
    return DOCS


def _sections() -> dict[str, list[list[str]]]:
    """Rows of each `## section`'s table, as lists of stripped cells (header rows dropped)."""
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in TABLE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            current = sections.setdefault(line[3:].strip(), [])
        elif current is not None and line.startswith("|") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] not in ("kind", "module", "middleware"):
                current.append(cells)
    return sections


def _name(cell: str) -> str | None:
    m = re.fullmatch(r"`([^`]+)`", cell)
    return m.group(1) if m else None


def _states(section: str, state_col: int) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for cells in _sections()[section]:
        name, state, notes = _name(cells[0]), cells[state_col], cells[state_col + 1] if len(cells) > state_col + 1 else ""
        assert state in STATES, f"{section}: row {cells[0]} has state {state!r}, not one of {sorted(STATES)}"
        if state != "✓":
            assert notes, f"{section}: row {cells[0]} is {state!r} without a note saying why or what is missing"
        if name is None:
            continue
        assert name not in out, f"{section}: {name} has two rows"
        out[name] = (state, notes)
    return out


def _check(section: str, registered: set[str], state_col: int) -> None:
    table = _states(section, state_col)
    missing = sorted(registered - table.keys())
    assert not missing, f"{section}: registered in the runtime but not in docs/compatibility.md: {missing}"
    wrong = sorted(n for n in registered if table[n][0] not in IMPLEMENTED)
    assert not wrong, f"{section}: registered in the runtime but marked missing/not planned: {wrong}"
    ghosts = sorted(n for n, (state, _) in table.items() if state in IMPLEMENTED and n not in registered)
    assert not ghosts, f"{section}: marked ✓/partial but not registered in the runtime: {ghosts}"


def test_every_registered_kind_has_a_true_row():
    _check("Entry kinds", set(MODELS), 1)


def test_every_requirable_module_has_a_true_row():
    _check("Lua modules", set(BY_NAME) - INTERNAL, 2)


def test_every_router_middleware_has_a_true_row():
    _check("HTTP middleware", set(middleware.KINDS), 1)


def test_bytecode_kinds_are_refused_as_the_table_says():
    from wippy.kinds.models.catalog import EntryInvalid, validate_entry
    from wippy.registry import Entry

    table = _states("Entry kinds", 1)
    for kind in ("function.lua.bc", "library.lua.bc", "process.lua.bc", "workflow.lua.bc"):
        assert table[kind][0] == "not planned"
        with pytest.raises(EntryInvalid, match="bytecode .* not supported.*use " + kind[:-3].replace(".", r"\.")):
            validate_entry(Entry(id="app:x", kind=kind, data={"source": "\x1bLua"}))


# ------------------------------------------------------------ against the documentation itself
docs = pytest.mark.skipif(DOCS is None, reason=ABSENT)


@docs
def test_table_lists_every_kind_of_the_docs():
    text = (_docs_dir() / "guides" / "entry-kinds.md").read_text(encoding="utf-8")
    text = text.partition("## Lifecycle Configuration")[0]  # later tables are of fields, not kinds
    documented = set(re.findall(r"^\| `([a-z0-9_.]+)` \|", text, re.M))
    assert len(documented) > 40
    absent = sorted(documented - _states("Entry kinds", 1).keys())
    assert not absent, f"kinds of guides/entry-kinds.md missing from docs/compatibility.md: {absent}"


@docs
def test_table_lists_every_module_page_of_the_docs():
    lua = _docs_dir() / "lua"
    pages = {str(p.relative_to(lua)) for p in lua.glob("*/*.md")}
    listed = {cells[1] for cells in _sections()["Lua modules"]}
    absent = sorted(pages - listed)
    assert not absent, f"pages under lua/ missing from docs/compatibility.md: {absent}"


@docs
def test_table_lists_every_middleware_of_the_docs():
    text = (_docs_dir() / "http" / "middleware.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^### .*\{#([a-z_]+)\}", text, re.M))
    assert documented
    absent = sorted(documented - _states("HTTP middleware", 1).keys())
    assert not absent, f"middleware of http/middleware.md missing from docs/compatibility.md: {absent}"
