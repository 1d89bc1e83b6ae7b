"""Applying changesets: atomicity, validation, dependency order, handler dispatch."""

from __future__ import annotations

import asyncio

import pytest
from registry_helpers import Recorder, host, lua_lib, proc, service

from wippy.kinds.models import entry_references, validate_entry
from wippy.registry import (
    ApplyError,
    Conflict,
    Entry,
    MemoryHistory,
    Op,
    Registry,
    Rejected,
    SourceLocation,
)


async def test_create_gives_version_and_runs_handler(registry, recorder):
    v = await registry.apply([Op.create(lua_lib("app:a"))], origin="test")
    assert v == 1 == registry.version
    assert registry.get("app:a") == lua_lib("app:a")
    assert recorder.seen == [("create", "app:a")]
    [info] = registry.versions()
    assert (info.id, info.parent, info.origin) == (1, 0, "test")
    assert (info.summary.created, info.summary.entry_ids) == (1, ("app:a",))


async def test_empty_changeset_is_invalid(registry):
    with pytest.raises(ApplyError, match="empty changeset") as exc:
        await registry.apply([])
    assert exc.value.kind == "Invalid"


async def test_rejected_apply_leaves_no_trace(registry, recorder):
    await registry.apply([Op.create(lua_lib("app:a", note=1)), Op.create(lua_lib("app:keep"))])
    before_live = dict(recorder.live)
    recorder.reject = lambda op: "no room for c" if op.id == "app:c" else None
    recorder.seen.clear()

    with pytest.raises(ApplyError) as exc:
        await registry.apply([
            Op.update(lua_lib("app:a", note=2)),
            Op.create(lua_lib("app:b")),
            Op.create(lua_lib("app:c", line=7)),
            Op.delete("app:keep"),
        ])

    err = exc.value
    assert err.kind == "Rejected"
    assert "app/_index.yaml:7: entry app:c: no room for c" in str(err)
    assert [e.entry_id for e in err.errors] == ["app:c"]
    # Registry unchanged...
    assert registry.version == 1
    assert len(registry.versions()) == 1
    assert registry.get("app:a").meta["note"] == 1
    assert registry.get("app:b") is None
    assert registry.get("app:keep") is not None
    # ...and the handler's side effects were undone, most recent first.
    assert recorder.live == before_live
    assert recorder.seen == [
        ("update", "app:a"), ("create", "app:b"),
        ("delete", "app:b"), ("update", "app:a"),
    ]


async def test_handler_crash_is_reverted_and_reported_as_internal(registry, recorder):
    class Boom:
        async def apply(self, op):
            raise RuntimeError("disk on fire")

    registry.add_handler("process.lua", Boom())
    with pytest.raises(ApplyError, match="RuntimeError: disk on fire") as exc:
        await registry.apply([Op.create(lua_lib("app:lib")), Op.create(proc("app:p"))])
    assert exc.value.kind == "Internal"
    assert registry.entries() == []
    assert recorder.live == {}


async def test_invalid_entry_names_file_line_and_field(registry, recorder):
    bad = Entry("app:hello", "function.lua", {}, {"source": "x", "methd": "run"},
                SourceLocation("/srv/app/_index.yaml", 14))
    with pytest.raises(ApplyError) as exc:
        await registry.apply([Op.create(bad), Op.create(lua_lib("app:fine"))])
    msg = str(exc.value)
    assert "/srv/app/_index.yaml:14: entry app:hello: invalid function.lua:" in msg
    assert "field 'method': field required" in msg
    assert "field 'methd': unknown field (did you mean 'method'?)" in msg
    assert exc.value.errors[0].source.line == 14
    assert recorder.seen == [] and registry.version == 0


async def test_unknown_kind_is_invalid(registry):
    with pytest.raises(ApplyError, match="entry app:x: unknown kind 'nope.kind'"):
        await registry.apply([Op.create(Entry("app:x", "nope.kind", {}, {}))])


async def test_creates_run_dependencies_first(registry, recorder):
    await registry.apply([
        Op.create(service("app:svc", "worker", "hosts:main", lifecycle={"requires": ["db"]})),
        Op.create(service("app:db", "worker", "hosts:main")),
        Op.create(proc("app:worker")),
        Op.create(host("hosts:main")),
    ])
    order = [i for _, i in recorder.seen]
    assert order.index("hosts:main") < order.index("app:db") < order.index("app:svc")
    assert order.index("app:worker") < order.index("app:db")
    assert [op.id for op in registry.changes_of(1)] == order


async def test_deletes_run_dependents_first(registry, recorder):
    await registry.apply([Op.create(host("app:h")), Op.create(proc("app:p")),
                          Op.create(service("app:s", "p", "h"))])
    recorder.seen.clear()
    await registry.apply([Op.delete("app:h"), Op.delete("app:p"), Op.delete("app:s")])
    assert recorder.seen[0] == ("delete", "app:s")
    assert registry.entries() == []


async def test_update_dropping_a_reference_runs_before_the_delete(registry, recorder):
    await registry.apply([Op.create(lua_lib("app:old")), Op.create(lua_lib("app:user", {"h": "old"}))])
    recorder.seen.clear()
    await registry.apply([Op.delete("app:old"), Op.create(lua_lib("app:new")),
                          Op.update(lua_lib("app:user", {"h": "new"}))])
    assert recorder.seen == [("create", "app:new"), ("update", "app:user"), ("delete", "app:old")]


async def test_reference_cycle_is_an_error_naming_the_cycle(registry, recorder):
    with pytest.raises(ApplyError, match="dependency cycle between entries: app:a, app:b"):
        await registry.apply([Op.create(lua_lib("app:a", {"b": "b"})), Op.create(lua_lib("app:b", {"a": "a"})),
                              Op.create(lua_lib("app:c", {"a": "a"}))])
    assert recorder.seen == []


async def test_cannot_delete_an_entry_still_referenced(registry, recorder):
    await registry.apply([Op.create(lua_lib("app:lib", line=3)), Op.create(lua_lib("app:user", {"l": "lib"}, line=9))])
    with pytest.raises(ApplyError) as exc:
        await registry.apply([Op.delete("app:lib")])
    assert str(exc.value) == (
        "changeset rejected: /app/_index.yaml:3: entry app:lib: "
        "cannot delete: still referenced by app:user (/app/_index.yaml:9)"
    )
    assert registry.get("app:lib") is not None
    # Deleting both together is fine.
    await registry.apply([Op.delete("app:lib"), Op.delete("app:user")])
    assert registry.entries() == []


async def test_registry_primitives_skip_handlers(registry, recorder):
    await registry.apply([Op.create(Entry("app:cfg", "registry.entry", {}, {"anything": [1, 2]})),
                          Op.create(Entry("app:def", "ns.definition", {}, {"module": "x/y"}))])
    assert recorder.seen == []
    assert registry.get("app:cfg").data == {"anything": [1, 2]}


async def test_expected_version_conflict(registry):
    await registry.apply([Op.create(lua_lib("app:a"))])
    with pytest.raises(Conflict) as exc:
        await registry.apply([Op.create(lua_lib("app:b"))], expected_version=0)
    assert exc.value.kind == "Conflict"
    assert await registry.apply([Op.create(lua_lib("app:b"))], expected_version=1) == 2


async def test_handlers_are_chosen_by_kind_pattern():
    reg = Registry(MemoryHistory(), validate=validate_entry, references=entry_references)
    exact, family, lua_tree, everything = Recorder(), Recorder(), Recorder(), Recorder()
    reg.add_handler("function.lua", exact)
    reg.add_handler("process.*", family)
    reg.add_handler("library.lua.**", lua_tree)
    reg.add_handler("**", everything)
    await reg.apply([Op.create(Entry("a:f", "function.lua", {}, {"source": "s", "method": "m"})),
                     Op.create(host("a:h")), Op.create(lua_lib("a:l"))])
    assert exact.seen == [("create", "a:f")]
    assert family.seen == [("create", "a:h")]
    assert lua_tree.seen == [("create", "a:l")]
    assert len(everything.seen) == 3


async def test_kind_change_is_delete_then_create_for_handlers():
    reg = Registry(MemoryHistory(), validate=validate_entry)
    libs, procs = Recorder(), Recorder()
    reg.add_handler("library.lua", libs)
    reg.add_handler("process.lua", procs)
    await reg.apply([Op.create(lua_lib("a:x"))])
    await reg.apply([Op.update(Entry("a:x", "process.lua", {}, {"source": "s", "method": "main"}))])
    assert libs.seen == [("create", "a:x"), ("delete", "a:x")]
    assert procs.seen == [("create", "a:x")]


async def test_create_existing_and_update_missing(registry):
    await registry.apply([Op.create(lua_lib("app:a"))])
    with pytest.raises(ApplyError, match="entry app:a: already exists") as exc:
        await registry.apply([Op.create(lua_lib("app:a"))])
    assert exc.value.kind == "AlreadyExists"
    with pytest.raises(ApplyError, match="entry app:zz: cannot update: no such entry") as exc:
        await registry.apply([Op.update(lua_lib("app:zz"))])
    assert exc.value.kind == "NotFound"


async def test_subscribers_see_committed_changes_only(registry, recorder):
    seen = []

    async def on_change(version, ops):
        seen.append((version, [(op.action, op.id) for op in ops]))

    registry.subscribe(on_change)
    registry.subscribe(lambda v, ops: seen.append(("sync", v)))
    await registry.apply([Op.create(lua_lib("app:a"))])
    recorder.reject = lambda op: "no"
    with pytest.raises(ApplyError):
        await registry.apply([Op.create(lua_lib("app:b"))])
    assert seen == [(1, [("create", "app:a")]), ("sync", 1)]


async def test_ops_that_cancel_out_create_no_version(registry, recorder):
    await registry.apply([Op.create(lua_lib("app:a"))])
    assert await registry.apply([Op.create(lua_lib("app:tmp")), Op.delete("app:tmp")]) == 1
    assert await registry.apply([Op.update(lua_lib("app:a"))]) == 1
    assert len(registry.versions()) == 1
    assert recorder.seen == [("create", "app:a")]


async def test_squashed_changeset_reaches_handlers_once(registry, recorder):
    await registry.apply([Op.create(lua_lib("app:a", v=1)), Op.update(lua_lib("app:a", v=2))])
    assert recorder.seen == [("create", "app:a")]
    assert registry.get("app:a").meta["v"] == 2


async def test_caller_mutations_do_not_leak_into_the_registry(registry):
    entry = lua_lib("app:a", tags=["x"])
    await registry.apply([Op.create(entry)])
    entry.meta["tags"].append("sneaky")
    entry.data["imports"]["x"] = "y"
    assert registry.get("app:a").meta["tags"] == ["x"]
    assert registry.get("app:a").data["imports"] == {}


async def test_slow_handler_times_out_and_is_reverted():
    class Slow:
        async def apply(self, op):
            if op.action == "create" and op.id == "a:slow":
                await asyncio.sleep(10)

    fast = Recorder()
    reg = Registry(MemoryHistory(), handler_timeout=0.05)
    reg.add_handler("**", fast)
    reg.add_handler("**", Slow())
    with pytest.raises(ApplyError, match="did not answer within 0.05s"):
        await reg.apply([Op.create(lua_lib("a:slow"))])
    assert fast.seen == [("create", "a:slow"), ("delete", "a:slow")]


async def test_find_and_snapshot(registry):
    await registry.apply([Op.create(Entry("app.api:get", "library.lua", {"type": "handler"}, {"source": "s"})),
                          Op.create(Entry("app:other", "library.lua", {"type": "test"}, {"source": "s"}))])
    snap = registry.snapshot()
    await registry.apply([Op.delete("app:other")])
    assert [e.id for e in registry.find({".ns": "app.api"})] == ["app.api:get"]
    assert [e.id for e in snap.find({"meta.type": "test"})] == ["app:other"]
    assert snap.version() == 1 and registry.snapshot().version() == 2
    assert [e.id for e in snap.namespace("app")] == ["app:other"]


def test_rejected_is_an_exception_handlers_raise():
    assert issubclass(Rejected, Exception)


async def test_concurrent_applies_are_serialised():
    class Slow(Recorder):
        async def apply(self, op):
            await asyncio.sleep(0.01)
            await super().apply(op)

    reg = Registry(MemoryHistory())
    handler = Slow()
    reg.add_handler("**", handler)
    versions = await asyncio.gather(reg.apply([Op.create(lua_lib("a:one")), Op.create(lua_lib("a:two"))]),
                                    reg.apply([Op.create(lua_lib("a:three"))]))
    assert sorted(versions) == [1, 2]
    assert [(v.id, v.parent) for v in reg.versions()] == [(1, 0), (2, 1)]
    # One changeset's ops are never interleaved with another's.
    assert handler.seen in ([("create", "a:one"), ("create", "a:two"), ("create", "a:three")],
                            [("create", "a:three"), ("create", "a:one"), ("create", "a:two")])
