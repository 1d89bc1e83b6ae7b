"""Registry filters: root keys, meta operators, the short form."""

from __future__ import annotations

import pytest

from wippy.registry import Entry, find

ENTRIES = [
    Entry("app.api:get_user", "function.lua", {"type": "handler", "tags": ["http", "users"], "owner": {"team": "core"}}, {}),
    Entry("app.api:list_users", "function.lua", {"type": "handler-test", "enabled": True}, {}),
    Entry("app.lib:helpers", "library.lua", {"type": "lib"}, {}),
    Entry("app:gateway", "http.service", {"comment": "public Gateway"}, {}),
]


def ids(filter) -> list[str]:
    return [e.id for e in find(ENTRIES, filter)]


def test_root_keys_exact_and_glob():
    assert ids({".kind": "function.lua"}) == ["app.api:get_user", "app.api:list_users"]
    assert ids({".kind": "function"}) == []
    assert ids({".kind": "*.lua"}) == ["app.api:get_user", "app.api:list_users", "app.lib:helpers"]
    assert ids({".ns": "app"}) == ["app:gateway"]
    assert ids({".ns": "app.*"}) == ["app.api:get_user", "app.api:list_users", "app.lib:helpers"]
    assert ids({".name": "*users"}) == ["app.api:list_users"]
    assert ids({".id": "app:gateway"}) == ["app:gateway"]


def test_meta_operators():
    assert ids({"meta.type": "handler"}) == ["app.api:get_user"]
    assert ids({"meta.type": "handler*"}) == ["app.api:get_user", "app.api:list_users"]
    assert ids({"meta.type": "~^h.*test$"}) == ["app.api:list_users"]
    assert ids({"meta.comment": "*Gate"}) == ["app:gateway"]
    assert ids({"meta.type": "^hand"}) == ["app.api:get_user", "app.api:list_users"]
    assert ids({"meta.type": "$-test"}) == ["app.api:list_users"]
    assert ids({"meta.owner.team": "core"}) == ["app.api:get_user"]
    assert ids({"meta.tags": "users"}) == ["app.api:get_user"]  # any list element
    assert ids({"meta.enabled": True}) == ["app.api:list_users"]
    assert ids({"meta.enabled": "true"}) == ["app.api:list_users"]
    assert ids({"meta.missing": "*"}) == []


def test_conditions_are_anded():
    assert ids({".kind": "function.lua", "meta.type": "handler"}) == ["app.api:get_user"]


def test_short_form():
    assert ids({"kind": "function.lua", "type": "handler"}) == ["app.api:get_user"]
    assert ids({"namespace": "app.lib"}) == ["app.lib:helpers"]
    assert ids({"ns": "app", "comment": "*public"}) == ["app:gateway"]
    assert ids({"name": "helpers"}) == ["app.lib:helpers"]


@pytest.mark.parametrize("bad, message", [
    ({".color": "x"}, "unknown filter key '.color'"),
    ({"data.x": "x"}, "unknown filter key 'data.x'"),
    ({"meta.type": "~(["}, "invalid regex"),
    ({".kind": 3}, "expected a string"),
])
def test_bad_filters(bad, message):
    with pytest.raises(ValueError, match=message):
        find(ENTRIES, bad)
