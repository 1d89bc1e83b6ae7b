"""FileSource: an app folder kept live in the registry while files change."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import pytest

from wippy.kinds.models import entry_references, validate_entry
from wippy.loader import FileSource, parse_override
from wippy.registry import Entry, MemoryHistory, Op, Registry, Rejected, SqliteHistory


class Recorder:
    def __init__(self, reject=None):
        self.seen: list[tuple[str, str]] = []
        self.reject = reject

    async def apply(self, op: Op) -> None:
        if self.reject is not None and (msg := self.reject(op)):
            raise Rejected(msg)
        self.seen.append((op.action, op.id))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"))


async def eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (AssertionError, KeyError, AttributeError):
            pass
        if time.monotonic() > deadline:
            assert check(), "condition not reached in time"
        await asyncio.sleep(0.02)


APP = """
namespace: app
entries:
  - name: hello
    kind: function.lua
    source: file://hello.lua
    method: main
  - name: settings
    kind: registry.entry
    level: 1
"""


@pytest.fixture
def app(tmp_path) -> Path:
    root = tmp_path / "app"
    write(root / "_index.yaml", APP)
    write(root / "hello.lua", "return { main = function() return 1 end }\n")
    return root


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def registry(recorder) -> Registry:
    reg = Registry(MemoryHistory(), validate=validate_entry, references=entry_references)
    reg.add_handler("**", recorder)
    return reg


@pytest.fixture
async def started(app, registry):
    errors: list[str] = []
    source = FileSource(app, on_error=errors.append, debounce=0.05)
    report = await source.start(registry)
    assert report.ok, report.errors
    yield source, errors
    await source.stop()


async def test_initial_load_and_live_edit(app, registry, recorder, started):
    source, errors = started
    assert sorted(recorder.seen) == [("create", "app:hello")]  # registry.entry has no handler
    assert registry.versions()[0].origin == "file"
    assert registry.get("app:settings").data == {"level": 1}

    write(app / "_index.yaml", APP.replace("level: 1", "level: 2"))
    await eventually(lambda: registry.get("app:settings").data == {"level": 2})
    assert registry.version == 2 and errors == []


async def test_broken_yaml_keeps_entries_reports_and_converges_when_fixed(app, registry, recorder, started):
    source, errors = started
    write(app / "_index.yaml", APP.replace("  - name: settings", "  - name: settings\n   oops: [") )
    await eventually(lambda: errors)
    assert "_index.yaml:" in errors[0] and "invalid YAML" in errors[0]
    assert str(app / "_index.yaml") in errors[0]
    assert registry.version == 1 and registry.get("app:settings") is not None

    write(app / "_index.yaml", APP.replace("level: 1", "level: 3"))
    await eventually(lambda: registry.get("app:settings").data == {"level": 3})
    assert registry.get("app:hello") is not None


async def test_embedded_lua_change_updates_the_entry_that_embeds_it(app, registry, recorder, started):
    write(app / "unrelated.lua", "return 0\n")
    write(app / "hello.lua", "return { main = function() return 2 end }\n")
    await eventually(lambda: "return 2" in registry.get("app:hello").data["source"])
    assert recorder.seen[-1] == ("update", "app:hello")
    assert registry.version == 2


async def test_files_added_and_removed(app, registry, recorder, started):
    write(app / "sub/dir/_index.yaml", "namespace: app.sub\nentries:\n  - {name: lib, kind: library.lua, source: 'return {}'}\n")
    await eventually(lambda: registry.get("app.sub:lib") is not None)
    (app / "sub/dir/_index.yaml").unlink()
    await eventually(lambda: registry.get("app.sub:lib") is None)
    assert ("delete", "app.sub:lib") in recorder.seen


async def test_a_refused_file_does_not_hold_back_the_others(app, tmp_path):
    recorder = Recorder(reject=lambda op: "bad worker" if op.id == "other:bad" else None)
    registry = Registry(MemoryHistory(), validate=validate_entry, references=entry_references)
    registry.add_handler("**", recorder)
    errors: list[str] = []
    source = FileSource(app, on_error=errors.append, debounce=0.05)
    await source.start(registry)
    try:
        write(app / "_index.yaml", APP.replace("level: 1", "level: 5"))
        write(app / "other.yaml", "namespace: other\nentries:\n  - {name: bad, kind: library.lua, source: x}\n")
        await source.reload()  # both changes in one batch, deterministically
        assert registry.get("app:settings").data == {"level": 5}
        assert registry.get("other:bad") is None
        assert any("other.yaml:3: entry other:bad: bad worker" in e for e in errors)
    finally:
        await source.stop()


async def test_invalid_entry_is_reported_with_file_line_and_field(app, registry, started):
    source, errors = started
    write(app / "_index.yaml", APP.replace("method: main", "methd: main"))
    await eventually(lambda: errors)
    assert f"{app / '_index.yaml'}:3: entry app:hello: invalid function.lua" in errors[0]
    assert "field 'methd': unknown field (did you mean 'method'?)" in errors[0]
    assert registry.get("app:hello").data["method"] == "main"


async def test_entries_made_elsewhere_are_left_alone(app, registry, started):
    await registry.apply([Op.create(Entry("agent:note", "registry.entry", {}, {"x": 1}))], origin="api")
    write(app / "_index.yaml", APP.replace("level: 1", "level: 9"))
    await eventually(lambda: registry.get("app:settings").data == {"level": 9})
    assert registry.get("agent:note") is not None


async def test_overrides_apply_to_loaded_entries(app, registry):
    source = FileSource(app, overrides=[parse_override("app:settings:level=7"), parse_override("app:gone:x=1")],
                        on_error=(errors := []).append)
    await source.start(registry)
    await source.stop()
    assert registry.get("app:settings").data == {"level": 7}
    assert errors == ["override app:gone:data.x=1: no entry app:gone"]


async def test_restart_catches_up_with_changes_made_while_down(app, tmp_path):
    db = tmp_path / "state" / "registry.db"
    reg = Registry(SqliteHistory(db), validate=validate_entry, references=entry_references)
    await reg.load()
    source = FileSource(app, debounce=0.05)
    await source.start(reg)
    await source.stop()
    reg._history.close()

    # While down: one entry removed; the other file is broken.
    write(app / "_index.yaml", APP.split("  - name: settings")[0])
    write(app / "extra.yaml", "namespace: extra\nentries:\n  - {name: x, kind: registry.entry}\n")
    recorder = Recorder()
    reg = Registry(SqliteHistory(db), validate=validate_entry, references=entry_references)
    reg.add_handler("**", recorder)
    await reg.load()
    assert reg.get("app:settings") is not None
    errors: list[str] = []
    source = FileSource(app, on_error=errors.append, debounce=0.05)
    await source.start(reg)
    await source.stop()
    assert reg.get("app:settings") is None
    assert reg.get("extra:x") is not None
    assert errors == []

    # A file broken at startup keeps what the registry recorded from it.
    write(app / "_index.yaml", "namespace: app\nentries: [\n")
    source = FileSource(app, on_error=errors.append, debounce=0.05)
    await source.start(reg)
    await source.stop()
    assert reg.get("app:hello") is not None
    assert len(errors) == 1 and "invalid YAML" in errors[0]
    reg._history.close()
