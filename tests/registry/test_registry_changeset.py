"""Changeset algebra: diff, squash (reference §5), inverse, and dependency order."""

from __future__ import annotations

import pytest

from wippy.registry import ChangesetError, Entry, Op, diff, order, squash


def e(entry_id: str, rev: int = 0, refs: tuple[str, ...] = ()) -> Entry:
    return Entry(entry_id, "registry.entry", {"rev": rev}, {"refs": list(refs)})


def refs(entry: Entry) -> set[str]:
    return set(entry.data["refs"])


def brief(ops: list[Op]) -> list[tuple[str, str]]:
    return [(op.action, op.id) for op in ops]


def test_diff_builds_creates_updates_deletes():
    old = {"a:x": e("a:x"), "a:y": e("a:y"), "a:same": e("a:same")}
    new = {"a:x": e("a:x", 1), "a:z": e("a:z"), "a:same": e("a:same")}
    ops = diff(old, new)
    assert brief(ops) == [("update", "a:x"), ("create", "a:z"), ("delete", "a:y")]
    assert ops[0].previous == e("a:x") and ops[2].previous == e("a:y")


def test_squash_rules():
    x0, x1, x2 = e("a:x", 0), e("a:x", 1), e("a:x", 2)
    assert brief(squash([Op.create(x1), Op("update", x2, x1)])) == [("create", "a:x")]
    assert squash([Op.create(x1), Op("update", x2, x1)])[0].entry == x2
    assert squash([Op.create(x1), Op("delete", x1, x1)]) == []
    [upd_del] = squash([Op("update", x1, x0), Op("delete", x1, x1)])
    assert (upd_del.action, upd_del.previous) == ("delete", x0)
    [del_create] = squash([Op("delete", x0, x0), Op.create(x2)])
    assert (del_create.action, del_create.entry, del_create.previous) == ("update", x2, x0)
    [upd_upd] = squash([Op("update", x1, x0), Op("update", x2, x1)])
    assert (upd_upd.entry, upd_upd.previous) == (x2, x0)
    # Back where it started: nothing to do.
    assert squash([Op("update", x1, x0), Op("update", x0, x1)]) == []


def test_squash_refuses_impossible_sequences():
    with pytest.raises(ChangesetError, match="cannot update after delete"):
        squash([Op("delete", e("a:x"), e("a:x")), Op.update(e("a:x", 1))])


def test_inverse():
    x0, x1 = e("a:x", 0), e("a:x", 1)
    assert Op.create(x1).inverse() == Op("delete", x1, x1)
    assert Op("update", x1, x0).inverse() == Op("update", x0, x1)
    assert Op("delete", x0, x0).inverse() == Op("create", x0)
    with pytest.raises(ChangesetError):
        Op.update(x1).inverse()


def test_order_creates_dependencies_first_and_keeps_input_order_otherwise():
    ops = [Op.create(e("a:c", refs=("a:b",))), Op.create(e("a:z")), Op.create(e("a:b", refs=("a:a",))),
           Op.create(e("a:a"))]
    assert [op.id for op in order(ops, refs)] == ["a:z", "a:a", "a:b", "a:c"]


def test_order_deletes_dependents_first():
    ops = [Op("delete", e("a:a"), e("a:a")), Op("delete", e("a:b", refs=("a:a",)), e("a:b", refs=("a:a",)))]
    assert [op.id for op in order(ops, refs)] == ["a:b", "a:a"]


def test_order_ignores_references_outside_the_changeset():
    ops = [Op.create(e("a:x", refs=("other:thing",)))]
    assert order(ops, refs) == ops


def test_cycle_names_only_the_cycle():
    ops = [Op.create(e("a:x", refs=("a:y",))), Op.create(e("a:y", refs=("a:x",))),
           Op.create(e("a:after", refs=("a:x",))), Op.create(e("a:free"))]
    with pytest.raises(ChangesetError, match=r"^dependency cycle between entries: a:x, a:y$"):
        order(ops, refs)


def test_delete_by_id_is_a_placeholder():
    op = Op.delete("ns:name")
    assert (op.action, op.id) == ("delete", "ns:name")
