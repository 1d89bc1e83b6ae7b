"""-o ns:entry:path=value overrides."""

from __future__ import annotations

import pytest

from wippy.loader import Override, OverrideError, apply_overrides, parse_override
from wippy.registry import Entry

ENTRIES = {"app:api": Entry("app:api", "http.service", {"team": "a"}, {"addr": ":8080", "timeouts": {"read": "5s"}})}


@pytest.mark.parametrize("text, target, path, value", [
    ("app:api:addr=:9090", "data", ("addr",), ":9090"),
    ("app:api:data.timeouts.read=10s", "data", ("timeouts", "read"), "10s"),
    ("app:api:meta.debug=true", "meta", ("debug",), True),
    ("app:api:workers=4", "data", ("workers",), 4),
    ("app:api:ratio=0.5", "data", ("ratio",), 0.5),
    ("app:api:kind=http.other", "kind", (), "http.other"),
    ("app.v2:api:x=a=b", "data", ("x",), "a=b"),
])
def test_parse(text, target, path, value):
    o = parse_override(text)
    assert (o.target, o.path, o.value) == (target, path, value)


def test_apply():
    out = apply_overrides(ENTRIES, [parse_override("app:api:addr=:9090"), parse_override("app:api:timeouts.write=1s"),
                                    parse_override("app:api:meta.debug=true"), parse_override("app:api:kind=http.x")])
    api = out["app:api"]
    assert api.kind == "http.x"
    assert api.data == {"addr": ":9090", "timeouts": {"read": "5s", "write": "1s"}}
    assert api.meta == {"team": "a", "debug": True}
    assert ENTRIES["app:api"].data["addr"] == ":8080"  # the input is untouched


def test_config_form_keeps_typed_values():
    assert Override.from_key("app:api:addr", [1, 2]).value == [1, 2]


@pytest.mark.parametrize("bad, message", [
    ("app:api", "expected 'namespace:entry:path=value'"),
    ("app:api=1", "expected 'namespace:entry:path'"),
    ("app:api:a..b=1", "empty segment"),
])
def test_malformed(bad, message):
    with pytest.raises(OverrideError, match=message):
        parse_override(bad)


def test_unknown_entry_and_non_mapping_target():
    with pytest.raises(OverrideError, match="no entry app:nope"):
        apply_overrides(ENTRIES, [parse_override("app:nope:x=1")])
    with pytest.raises(OverrideError, match="cannot set field 'sub' on a str"):
        apply_overrides(ENTRIES, [parse_override("app:api:addr.sub=1")])
