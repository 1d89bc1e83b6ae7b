"""Versions: rollback, roll forward, branching, snapshots, and history across restarts."""

from __future__ import annotations

import pytest
from registry_helpers import Recorder, host, lua_lib, proc, service

from wippy.kinds.models import entry_references, validate_entry
from wippy.registry import ApplyError, Entry, MemoryHistory, Op, Registry, SqliteHistory


def ids(registry) -> list[str]:
    return sorted(e.id for e in registry.entries())


async def build_three_versions(registry):
    v1 = await registry.apply([Op.create(lua_lib("app:a", rev=1))])
    v2 = await registry.apply([Op.update(lua_lib("app:a", rev=2)), Op.create(lua_lib("app:b"))])
    v3 = await registry.apply([Op.delete("app:b"), Op.create(lua_lib("app:c"))])
    return v1, v2, v3


async def test_rollback_restores_entries_and_handlers_see_the_reverse(registry, recorder):
    v1, v2, v3 = await build_three_versions(registry)
    recorder.seen.clear()

    await registry.apply_version(v1)

    assert registry.version == v1
    assert ids(registry) == ["app:a"]
    assert registry.get("app:a").meta["rev"] == 1
    assert sorted(recorder.seen) == [("delete", "app:c"), ("update", "app:a")]
    assert recorder.live == {e.id: e for e in registry.entries()}
    assert len(registry.versions()) == 3  # no version is created by a rollback


async def test_roll_forward_again(registry, recorder):
    v1, v2, v3 = await build_three_versions(registry)
    await registry.apply_version(v1)
    recorder.seen.clear()
    await registry.apply_version(v3)
    assert ids(registry) == ["app:a", "app:c"]
    assert registry.get("app:a").meta["rev"] == 2
    assert sorted(recorder.seen) == [("create", "app:c"), ("update", "app:a")]


async def test_apply_after_rollback_branches_from_the_moved_head(registry, recorder):
    v1, v2, v3 = await build_three_versions(registry)
    await registry.apply_version(v1)
    v4 = await registry.apply([Op.create(lua_lib("app:d"))])
    assert v4 == 4
    assert {v.id: v.parent for v in registry.versions()} == {1: 0, 2: 1, 3: 2, 4: 1}
    assert ids(registry) == ["app:a", "app:d"]

    # Crossing branches: 4 -> 1 -> 2 -> 3.
    recorder.seen.clear()
    await registry.apply_version(v3)
    assert ids(registry) == ["app:a", "app:c"]
    assert sorted(recorder.seen) == [("create", "app:c"), ("delete", "app:d"), ("update", "app:a")]
    assert recorder.live == {e.id: e for e in registry.entries()}


async def test_rollback_to_empty(registry, recorder):
    await build_three_versions(registry)
    await registry.apply_version(0)
    assert registry.entries() == [] and registry.version == 0
    assert recorder.live == {}


async def test_rejected_rollback_changes_nothing(registry, recorder):
    v1, v2, v3 = await build_three_versions(registry)
    recorder.reject = lambda op: "a is pinned" if op.id == "app:a" else None
    with pytest.raises(ApplyError, match="entry app:a: a is pinned"):
        await registry.apply_version(v1)
    assert registry.version == v3
    assert ids(registry) == ["app:a", "app:c"]
    assert recorder.live == {e.id: e for e in registry.entries()}


async def test_rollback_respects_dependency_order(registry, recorder):
    v1 = await registry.apply([Op.create(host("app:h"))])
    await registry.apply([Op.create(proc("app:p")), Op.create(service("app:s", "p", "h"))])
    recorder.seen.clear()
    await registry.apply_version(v1)
    assert recorder.seen[0] == ("delete", "app:s")
    await registry.apply_version(2)
    assert recorder.seen[-1] == ("create", "app:s")


async def test_snapshot_at_and_changes_of(registry):
    v1, v2, v3 = await build_three_versions(registry)
    assert sorted(e.id for e in registry.snapshot_at(v2).entries()) == ["app:a", "app:b"]
    assert registry.snapshot_at(v1).get("app:a").meta["rev"] == 1
    assert registry.snapshot_at(0).entries() == []
    changes = registry.changes_of(v2)
    assert [(op.action, op.id) for op in changes] == [("update", "app:a"), ("create", "app:b")]
    assert changes[0].previous.meta["rev"] == 1


async def test_unknown_version(registry):
    with pytest.raises(ApplyError, match="unknown registry version 9") as exc:
        await registry.apply_version(9)
    assert exc.value.kind == "NotFound"


def make_registry(history, recorder) -> Registry:
    reg = Registry(history, validate=validate_entry, references=entry_references)
    reg.add_handler("**", recorder)
    return reg


async def test_history_survives_restart(tmp_path):
    db = tmp_path / "registry.db"
    first = make_registry(SqliteHistory(db), Recorder())
    await first.apply([Op.create(host("app:h")), Op.create(proc("app:p"))], origin="file")
    await first.apply([Op.create(service("app:s", "p", "h")), Op.create(lua_lib("app:l", line=4))])
    await first.apply_version(1)
    await first.apply([Op.create(lua_lib("app:z"))])
    expected_entries = {e.id: e for e in first.entries()}
    expected_versions = first.versions()
    first._history.close()

    recorder = Recorder()
    second = make_registry(SqliteHistory(db), recorder)
    with pytest.raises(RuntimeError, match="call load"):
        await second.apply([Op.create(lua_lib("app:early"))])
    await second.load()

    assert second.version == 3
    assert {e.id: e for e in second.entries()} == expected_entries
    assert [(v.id, v.parent, v.origin, v.summary) for v in second.versions()] == \
        [(v.id, v.parent, v.origin, v.summary) for v in expected_versions]
    assert sorted(recorder.seen) == [("create", "app:h"), ("create", "app:p"), ("create", "app:z")]

    # Rollback across the branch after reopening: 3 -> 1 -> 2.
    await second.apply_version(2)
    assert ids(second) == ["app:h", "app:l", "app:p", "app:s"]
    assert second.get("app:l").source.line == 4
    assert recorder.live == {e.id: e for e in second.entries()}
    second._history.close()

    third = make_registry(SqliteHistory(db), Recorder())
    await third.load()
    assert third.version == 2 and ids(third) == ids(second)


async def test_boot_creates_in_dependency_order_and_collects_rejections(tmp_path):
    history = MemoryHistory()
    first = make_registry(history, Recorder())
    await first.apply([Op.create(service("app:s", "p", "h")), Op.create(host("app:h")),
                       Op.create(proc("app:p")), Op.create(lua_lib("app:l"))])

    recorder = Recorder(reject=lambda op: "host unavailable" if op.id == "app:h" else None)
    second = make_registry(history, recorder)
    await second.load()
    assert [e.entry_id for e in second.boot_errors] == ["app:h"]
    assert "host unavailable" in str(second.boot_errors[0])
    assert ("create", "app:l") in recorder.seen and ("create", "app:s") in recorder.seen
    assert recorder.seen.index(("create", "app:p")) < recorder.seen.index(("create", "app:s"))
    assert len(second.entries()) == 4  # the desired state is kept even where the handler refused


async def test_unserialisable_data_is_refused_by_sqlite_history_and_reverted(tmp_path):
    recorder = Recorder()
    reg = Registry(SqliteHistory(tmp_path / "r.db"))
    reg.add_handler("**", recorder)
    with pytest.raises(ApplyError, match="could not record the version") as exc:
        await reg.apply([Op.create(Entry("app:x", "registry.entry", {}, {"when": object()}))])
    assert exc.value.kind == "Internal"
    assert reg.entries() == [] and reg.version == 0 and recorder.live == {}
