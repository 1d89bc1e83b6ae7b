"""Every Lua block of the Wippy documentation that is meant to be code parses, and its emitted
plain Lua is accepted by Lua 5.4. New blocks are picked up as the docs grow.

Blocks that are reference listings rather than code (signatures with `[,opt]`, `msg?`
placeholders, method chains cut from their receiver, bare tables showing a shape) are listed in
NOT_CODE by file and first line, so that one of them turning into code is noticed.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from wippy.lang import LuaSyntaxError, SyntaxChecker, parse

from tests.harness.wippy_docs import ABSENT
from tests.harness.wippy_docs import DOCS as WIPPY_DOCS

DOCS = WIPPY_DOCS or Path("wippy-docs-missing")
pytestmark = pytest.mark.skipif(WIPPY_DOCS is None, reason=ABSENT)

NOT_CODE = {
    ("framework/dataflow.md", "flow.create()"),  # builder reference with `:[operation]`
    ("framework/dataflow.md", ':func("app:decompose"):as("decompose")'),
    ("framework/dataflow.md", ':func("app:final_step"):to("@success")'),
    ("framework/dataflow.md", ':agent("app:gpt_planner", { model = "gpt-5" }):as("gpt_planner")'),
    ("framework/dataflow.md", ':func("source"):to("target")'),
    ("framework/dataflow.md", ':func("source"):to("target", "task")'),
    ("framework/dataflow.md", ':func("source1"):to("target", "data")'),
    ("framework/dataflow.md", ':func("app:api_client", {'),
    ("framework/dataflow.md", "-- String transform: single expression"),
    ("framework/dataflow.md", ':func("source"):as("source")'),
    ("framework/dataflow.md", ':func("app:my_function", {'),
    ("framework/dataflow.md", ':agent("app:content_writer", {'),
    ("framework/dataflow.md", ':agent("", {'),
    ("framework/dataflow.md", ":cycle({"),
    ("framework/dataflow.md", "{"),
    ("framework/dataflow.md", ":parallel({"),
    ("framework/dataflow.md", ':with_data(file_list):as("files"):to("processor", "files")'),
    ("framework/dataflow.md", ":signal({"),
    ("framework/dataflow.md", ":join({"),
    ("framework/migration.md", "{"),
    ("framework/relay.md", '-- process topic: "get_state"'),
    ("framework/testing.md", "test.eq(actual, expected, msg?)       -- actual == expected"),
    ("framework/testing.md", "test.ok(val, msg?)                    -- val is truthy"),
    ("framework/testing.md", "test.is_nil(val, msg?)                -- val == nil"),
    ("framework/testing.md", "test.is_true(val, msg?)               -- val == true"),
    ("framework/testing.md", "test.contains(str, substr, msg?)      -- substring match"),
    ("framework/testing.md", "test.gt(a, b, msg?)                   -- a > b"),
    ("framework/testing.md", "test.throws(fn, msg?)                 -- fn() raises error, returns it"),
    ("lua/core/base.md", 'type(value)         -- Returns: "nil", "number", "string", "boolean", "table", "function", "thread", "userdata"'),
    ("lua/core/base.md", "assert(v [,msg])    -- Raises error if v is false/nil, returns v otherwise"),
    ("lua/core/base.md", "pairs(t)            -- Iterate all key-value pairs"),
    ("lua/core/base.md", "select(index, ...)  -- Return args from index onwards"),
    ("lua/core/base.md", "_G        -- The global environment table"),
    ("lua/core/base.md", "table.insert(t, [pos,] value)  -- Insert value at pos (default: end)"),
    ("lua/core/base.md", "string.find(s, pattern [,init [,plain]])   -- Find pattern, returns start, end, captures"),
    ("lua/core/base.md", "string.sub(s, i [,j])      -- Substring from i to j (negative indexes from end)"),
    ("lua/core/registry.md", "{"),
    ("lua/system/tty.md", "{"),
    ("lua/system/tty.md", '{type = "resize", width = 120, height = 40}'),
    ("lua/system/tty.md", '{type = "start", width = 120, height = 40}'),
    ("lua/system/tty.md", '{type = "focus", focused = true}'),
    ("lua/system/tty.md", '{type = "paste", text = "pasted content"}'),
    ("temporal/activities.md", '["activity.retry_policy"] = {'),
    ("tutorials/channels.md", "local ch1 = channel.new(1)"),  # `result.channel == ch1  -- true`
}
# Code, but a fragment: Lua rejects it out of context (a `break` cut from its loop).
FRAGMENTS = {("lua/system/tty.md", "local quit = tty.bind({")}

_BLOCK = re.compile(r"^```lua[^\n]*\n(.*?)^```", re.M | re.S)


def lua_blocks(root: Path = DOCS):
    """(file, line of the block's first line, first non-blank line, text) for every ```lua block."""
    for path in sorted(root.rglob("*.md")):
        text = path.read_text()
        for m in _BLOCK.finditer(text):
            block = m.group(1)
            first = next((ln.strip() for ln in block.splitlines() if ln.strip()), "")
            yield str(path.relative_to(root)), text[:m.start()].count("\n") + 2, first, block


BLOCKS = list(lua_blocks()) if DOCS.is_dir() else []


def test_the_docs_have_many_lua_blocks():
    assert len(BLOCKS) > 900


@pytest.mark.parametrize("rel,line,first,block", [b for b in BLOCKS if (b[0], b[2]) not in NOT_CODE],
                         ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else "")
def test_doc_block_parses_and_loads(rel, line, first, block):
    try:
        parse(block, rel)
    except LuaSyntaxError as e:
        pytest.fail(f"{rel}:{line + e.line - 1}: {e.reason}")
    if (rel, first) not in FRAGMENTS:
        err = _checker().error(rel, block)
        assert err is None, f"{rel}:{line}: emitted Lua rejected: {err}"


def test_listings_are_still_not_code():
    """Each NOT_CODE block still fails to parse: once fixed in the docs, it must leave the list."""
    for key in NOT_CODE:
        failing = []
        for rel, _line, first, block in BLOCKS:
            if (rel, first) == key:
                try:
                    parse(block, rel)
                except LuaSyntaxError:
                    failing.append(rel)
        assert failing, f"{key} parses now: remove it from NOT_CODE"


_CK: list = []


def _checker() -> SyntaxChecker:
    if not _CK:
        _CK.append(SyntaxChecker())
    return _CK[0]


# ------------------------------------------------------------------ lint of the docs' examples
def _marked(block: str) -> list[int]:
    """Lines a doc marks as errors: `-- ERROR` (lua/types.md) and `-- E:` (guides/linter.md)."""
    return [i for i, ln in enumerate(block.splitlines(), 1)
            if "-- ERROR" in ln or re.search(r"--\s*E:", ln)]


MARKED = [b for b in BLOCKS if _marked(b[3])]
TYPES_MD = [b for b in BLOCKS if b[0] == "lua/types.md" and not _marked(b[3])]


def test_the_docs_mark_error_lines():
    assert sum(len(_marked(b[3])) for b in MARKED) >= 6


@pytest.mark.parametrize("rel,line,first,block", MARKED, ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else "")
def test_each_marked_line_is_an_E_diagnostic_at_that_line(rel, line, first, block):
    from wippy.lang.lint import lint_source
    diags = lint_source(block)
    found = {d.line for d in diags if d.code.startswith("E") and d.code not in ("E0002", "E0009")}
    for n in _marked(block):
        assert n in found, f"{rel}:{line + n - 1}: no E diagnostic (got {[(d.code, d.line, d.message) for d in diags]})"
    # and nothing else: a doc example is reported only where the doc says
    stray = [d for d in diags if d.code.startswith("E") and d.code not in ("E0002", "E0009")
             and d.line not in _marked(block)]
    assert not stray, f"{rel}:{line}: unexpected {[(d.code, d.line, d.message) for d in stray]}"


@pytest.mark.parametrize("rel,line,first,block", TYPES_MD, ids=lambda v: v if isinstance(v, str) and v.endswith(".md") else "")
def test_valid_type_examples_are_lint_clean(rel, line, first, block):
    """lua/types.md's valid examples give no type error; names from neighbouring examples
    (E0002 undefined variable, E0009 unknown type) are the only diagnostics allowed."""
    from wippy.lang.lint import lint_source
    diags = [d for d in lint_source(block) if d.code not in ("E0002", "E0009")]
    assert not diags, f"{rel}:{line}: {[(d.code, d.line, d.message) for d in diags]}"


def test_the_linter_checks_every_doc_block_without_failing():
    """Robustness: the checker meets ~1,000 real programs (rules on) and reports, never raises."""
    from wippy.lang.lint import lint_source
    checked = 0
    for rel, line, first, block in BLOCKS:
        if (rel, first) in NOT_CODE:
            continue
        for d in lint_source(block, rel, rules=True):
            assert d.line >= 1 and d.code[0] in "PEW", (rel, line, d)
        checked += 1
    assert checked > 900


# Doc examples the linter rightly refuses: (file, code) -> why.
DOC_MISTAKES = {
    ("lua/data/base64.md", "E0005"): "calls string.split, which neither Lua nor Wippy's string library has",
    ("lua/system/ostime.md", "E0004"): "a listing of os functions, os.difftime() shown without its arguments",
}


def test_doc_examples_type_check_against_the_module_signatures():
    """Every doc example, with all modules declared, gives no type error beyond its marked lines:
    the signatures of lang/signatures.py agree with the way the module pages call them (names
    defined by neighbouring examples, E0002/E0009, and undeclared entries' imports aside)."""
    from wippy.lang.lint import lint_source
    from wippy.modules import BY_NAME
    modules = list(BY_NAME)
    wrong = []
    for rel, line, first, block in BLOCKS:
        if (rel, first) in NOT_CODE:
            continue
        marked = set(_marked(block))
        for d in lint_source(block, rel, modules=modules):
            if d.code in ("E0002", "E0008", "E0009") or d.line in marked or (rel, d.code) in DOC_MISTAKES:
                continue
            wrong.append(f"{rel}:{line + d.line - 1}: {d.code} {d.message}")
    assert wrong == []
