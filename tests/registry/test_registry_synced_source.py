"""SyncedSource: desired state -> changeset, with per-group fallback on refusal."""

from __future__ import annotations

from registry_helpers import Recorder, lua_lib

from wippy.kinds.models import entry_references, validate_entry
from wippy.registry import Entry, MemoryHistory, Op, Registry, Rejected, SourceLocation, SyncedSource


def from_file(entry: Entry, file: str) -> Entry:
    return Entry(entry.id, entry.kind, entry.meta, entry.data, SourceLocation(file, 1))


def make(recorder: Recorder) -> tuple[Registry, SyncedSource, list[str]]:
    reg = Registry(MemoryHistory(), validate=validate_entry, references=entry_references)
    reg.add_handler("**", recorder)
    errors: list[str] = []
    source = SyncedSource(reg, origin="test", owns=lambda e: e.source is not None and e.source.file.startswith("/src/"),
                          on_error=errors.append)
    return reg, source, errors


async def test_sync_creates_updates_and_deletes_only_owned_entries():
    recorder = Recorder()
    reg, source, errors = make(recorder)
    await reg.apply([Op.create(lua_lib("api:made_by_agent"))])
    a = from_file(lua_lib("app:a"), "/src/one.yaml")
    report = await source.sync({"app:a": a})
    assert report.ok and report.versions == [2]
    report = await source.sync({"app:a": from_file(lua_lib("app:a", rev=2), "/src/one.yaml")})
    assert reg.get("app:a").meta == {"rev": 2}
    await source.sync({})
    assert [e.id for e in reg.entries()] == ["api:made_by_agent"]
    assert errors == []


async def test_refused_group_does_not_block_the_others():
    recorder = Recorder(reject=lambda op: "bad code" if op.id == "app:bad" else None)
    reg, source, errors = make(recorder)
    desired = {
        "app:good": from_file(lua_lib("app:good"), "/src/good.yaml"),
        "app:bad": from_file(lua_lib("app:bad"), "/src/bad.yaml"),
    }
    report = await source.sync(desired)
    assert [e.id for e in reg.entries()] == ["app:good"]
    assert len(report.errors) == 1 and "/src/bad.yaml:1: entry app:bad: bad code" in report.errors[0]
    assert errors == report.errors


async def test_groups_that_depend_on_each_other_still_land():
    recorder = Recorder(reject=lambda op: "nope" if op.id == "app:bad" else None)
    reg, source, errors = make(recorder)
    # "a.yaml" is tried first but references an entry from "b.yaml": it lands on the second pass.
    desired = {
        "app:user": from_file(lua_lib("app:user", {"l": "lib"}), "/src/a.yaml"),
        "app:lib": from_file(lua_lib("app:lib"), "/src/b.yaml"),
        "app:bad": from_file(lua_lib("app:bad"), "/src/c.yaml"),
    }

    class NeedsLib:
        async def apply(self, op):
            if op.id == "app:user" and op.action == "create" and reg.get("app:lib") is None:
                raise Rejected("library not loaded yet")

    reg.add_handler("**", NeedsLib())
    report = await source.sync(desired)
    assert sorted(e.id for e in reg.entries()) == ["app:lib", "app:user"]
    assert len(report.errors) == 1 and "app:bad" in report.errors[0]
