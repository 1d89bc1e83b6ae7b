"""Entry ids, references and (de)serialisation."""

from __future__ import annotations

import os

import pytest

from wippy.registry import Entry, InvalidEntryId, SourceLocation, parse_id, resolve_ref


@pytest.mark.parametrize("bad", ["noColon", "a:b:c", ":name", "ns:", "", 5])
def test_parse_id_needs_exactly_one_colon(bad):
    with pytest.raises(InvalidEntryId, match="namespace:name"):
        parse_id(bad)


def test_parse_id_and_properties():
    assert parse_id("app.api.v2:get_user.endpoint") == ("app.api.v2", "get_user.endpoint")
    entry = Entry("app.api:get", "function.lua", {}, {})
    assert (entry.ns, entry.name) == ("app.api", "get")


def test_resolve_ref():
    assert resolve_ref("helpers", "app.lib") == "app.lib:helpers"
    assert resolve_ref("other:thing", "app") == "other:thing"
    with pytest.raises(InvalidEntryId):
        resolve_ref("a:b:c", "app")


def test_entry_rejects_a_bad_id():
    with pytest.raises(InvalidEntryId):
        Entry("nope", "function.lua", {}, {})


def test_equality_ignores_source():
    a = Entry("a:x", "k", {"m": 1}, {"d": 2}, SourceLocation("/one.yaml", 1))
    b = Entry("a:x", "k", {"m": 1}, {"d": 2}, SourceLocation("/two.yaml", 9))
    assert a == b
    assert a != Entry("a:x", "k", {"m": 1}, {"d": 3})


def test_dict_round_trip_in_both_shapes():
    entry = Entry("app:x", "registry.entry", {"m": 1}, {"d": [1, 2]})
    assert entry.to_dict() == {"id": "app:x", "kind": "registry.entry", "meta": {"m": 1}, "data": {"d": [1, 2]}}
    assert Entry.from_dict(entry.to_dict()) == entry
    assert Entry.from_dict({"namespace": "app", "name": "x", "kind": "registry.entry",
                            "meta": {"m": 1}, "data": {"d": [1, 2]}}) == entry
    with pytest.raises(InvalidEntryId):
        Entry.from_dict({"kind": "x"})


def test_source_location_is_shown_relative_to_the_working_directory():
    here = os.path.join(os.getcwd(), "app", "_index.yaml")
    assert str(SourceLocation(here, 12)) == os.path.join("app", "_index.yaml") + ":12"
    assert str(SourceLocation("/elsewhere/_index.yaml")) == "/elsewhere/_index.yaml"
