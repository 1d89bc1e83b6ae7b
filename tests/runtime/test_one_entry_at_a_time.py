"""Loading one entry at a time: a broken entry is refused with its file, line and reason, and so is
every entry depending on it (named as such); every other entry loads, at start and on a live edit.
A changeset submitted through the registry stays all-or-nothing."""
import asyncio
from pathlib import Path

import pytest

from wippy.registry import ApplyError, Entry, Op
from wippy.runtime import Runtime

GOOD = "return {{main = function() return {n} end}}"
BROKEN = "return {main = function() return 1 +  end}"   # a syntax error on line 1


def twenty(broken: int | None) -> str:
    """Twenty entries in one file, `f<broken>` with a syntax error (entry i is at line 4 + 4*i); all are
    functions but f7, a library that others import."""
    lines = ['version: "1.0"', "namespace: app", "entries:"]
    for i in range(20):
        source = BROKEN if i == broken else GOOD.format(n=i)
        kind, last = ("library.lua", "modules: []") if i == 7 else ("function.lua", "method: main")
        lines += [f"  - name: f{i}", f"    kind: {kind}", f"    source: '{source}'", f"    {last}"]
    return "\n".join(lines) + "\n"


# two entries that depend on f7: `user` imports it, `caller` imports `user`
DEPENDENTS = """\
version: "1.0"
namespace: app.more
entries:
  - name: user
    kind: library.lua
    source: 'local f = require("f7"); return {n = 1}'
    imports: {f7: app:f7}
  - name: caller
    kind: function.lua
    source: 'local u = require("u"); return {main = function() return u.n end}'
    method: main
    imports: {u: app.more:user}
  - name: alone
    kind: function.lua
    source: 'return {main = function() return "alone" end}'
    method: main
"""


async def eventually(check, timeout=10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def app(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(twenty(broken=7))
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "_index.yaml").write_text(DEPENDENTS)
    rt = Runtime(tmp_path, node_name="t", persist_history=False)
    await rt.start()
    yield rt, tmp_path
    await rt.stop()


async def test_one_broken_among_twenty_loads_nineteen_and_names_its_dependents(app):
    rt, d = app
    ids = {e.id for e in rt.registry.entries()}
    assert {f"app:f{i}" for i in range(20)} - ids == {"app:f7"}
    assert "app.more:alone" in ids and not ids & {"app.more:user", "app.more:caller"}
    for i in (0, 6, 8, 19):
        assert await rt.call(f"app:f{i}") == i
    assert await rt.call("app.more:alone") == "alone"

    index, more = d / "_index.yaml", d / "more" / "_index.yaml"
    [broken] = [e for e in rt.errors if "entry app:f7" in e]
    assert broken.startswith(f"{index}:32: entry app:f7: ") and "Lua syntax error" in broken
    [user] = [e for e in rt.errors if "entry app.more:user" in e]
    assert user == f"{more}:4: entry app.more:user: refused: depends on app:f7, which was refused"
    [caller] = [e for e in rt.errors if "entry app.more:caller" in e]
    assert caller == f"{more}:8: entry app.more:caller: refused: depends on app.more:user, which was refused"
    assert len(rt.errors) == 3


async def test_fixing_the_broken_entry_loads_it_and_its_dependents(app):
    rt, d = app
    (d / "_index.yaml").write_text(twenty(broken=None))
    await eventually(lambda: rt.registry.get("app.more:caller") is not None)
    assert rt.registry.get("app:f7").data["source"] == GOOD.format(n=7)
    assert await rt.call("app.more:caller") == 1


async def test_a_live_edit_breaking_one_entry_keeps_its_last_version_and_lands_the_rest(app):
    rt, d = app
    (d / "_index.yaml").write_text(twenty(broken=None))
    await eventually(lambda: rt.registry.get("app.more:caller") is not None)
    errors_before = len(rt.errors)
    # one edit: f3 breaks, f4 changes, and a new entry depends on f3
    text = twenty(broken=3).replace("return 4 end", "return 44 end")
    (d / "_index.yaml").write_text(text + "  - {name: g, kind: library.lua, source: 'return {}', imports: {x: f3}}\n")
    await eventually(lambda: len(rt.errors) >= errors_before + 2)
    await eventually(lambda: "return 44" in rt.registry.get("app:f4").data["source"])
    assert await rt.call("app:f4") == 44
    assert await rt.call("app:f3") == 3                  # its last good version keeps serving
    assert rt.registry.get("app:g") is None
    new = rt.errors[errors_before:]
    assert any(e.startswith(f"{d / '_index.yaml'}:16: entry app:f3: ") for e in new)
    assert any(e.endswith("entry app:g: refused: depends on app:f3, which was refused") for e in new)


async def test_an_entry_that_does_not_load_leaves_the_rest_of_its_file(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(
        "namespace: app\nentries:\n"
        "  - {name: ok, kind: function.lua, source: 'return {main = function() return 1 end}', method: main}\n"
        "  - {name: nofile, kind: function.lua, source: 'file://missing.lua', method: main}\n"
        "  - {name: wrong, kind: function.lua, source: 'return {}', methd: main}\n"
        "  - {name: needs, kind: library.lua, source: 'return {}', imports: {m: nofile}}\n")
    rt = Runtime(tmp_path, node_name="t", persist_history=False)
    await rt.start()
    try:
        assert {e.id for e in rt.registry.entries()} == {"app:ok"}
        assert await rt.call("app:ok") == 1
        index = tmp_path / "_index.yaml"
        assert any(e.startswith(f"{index}:4: entry app:nofile: file://missing.lua") for e in rt.errors)
        assert any(e.startswith(f"{index}:5: entry app:wrong: invalid function.lua: ")
                   and "field 'methd': unknown field (did you mean 'method'?)" in e for e in rt.errors)
        assert f"{index}:6: entry app:needs: refused: depends on app:nofile, which was refused" in rt.errors
    finally:
        await rt.stop()


async def test_a_registry_changeset_stays_all_or_nothing(app):
    rt, _ = app
    version = rt.registry.version
    good = Entry("api:good", "function.lua", {}, {"source": GOOD.format(n=1), "method": "main"})
    bad = Entry("api:bad", "function.lua", {}, {"source": BROKEN, "method": "main"})
    with pytest.raises(ApplyError, match="api:bad"):
        await rt.registry.apply([Op.create(good), Op.create(bad)])
    assert rt.registry.version == version and rt.registry.get("api:good") is None
