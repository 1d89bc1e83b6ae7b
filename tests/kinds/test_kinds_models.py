"""Kind models: defaults, strictness, clear errors, references, schema descriptions."""

from __future__ import annotations

import os

import pytest

from wippy.kinds.models import (
    MODELS,
    EntryInvalid,
    FunctionLua,
    KindModel,
    entry_references,
    validate_entry,
)
from wippy.registry import Entry, SourceLocation


def entry(kind: str, data, entry_id: str = "app:x", meta=None, line: int | None = None) -> Entry:
    src = SourceLocation(os.path.join(os.getcwd(), "app", "_index.yaml"), line) if line else None
    return Entry(entry_id, kind, meta or {}, data, src)


def test_error_names_file_line_entry_kind_and_field():
    with pytest.raises(EntryInvalid) as exc:
        validate_entry(entry("function.lua", {"source": "return {}"}, "app:hello", line=14))
    assert str(exc.value) == "app/_index.yaml:14: entry app:hello (function.lua): field 'method': field required"
    assert exc.value.problems == ["field 'method': field required"]


def test_misspelled_field_is_an_error_with_a_suggestion():
    with pytest.raises(EntryInvalid, match=r"field 'lifecycle.restart.max_atempts': unknown field \(did you mean 'max_attempts'\?\)"):
        validate_entry(entry("process.service", {"process": "p", "host": "h",
                                                 "lifecycle": {"restart": {"max_atempts": 3}}}))


def test_unknown_kind():
    with pytest.raises(EntryInvalid, match="entry app:x \\(http.nope\\): unknown kind 'http.nope'"):
        validate_entry(entry("http.nope", {}))


def test_data_must_be_a_mapping():
    with pytest.raises(EntryInvalid, match="data must be a mapping of fields, got list"):
        validate_entry(entry("process.lua", [1, 2]))


def test_lifecycle_defaults_and_parsing():
    svc = validate_entry(entry("process.service", {"process": "p", "host": "h"}))
    lc = svc.lifecycle
    assert (lc.auto_start, lc.requires) == (False, [])
    assert (lc.start_timeout, lc.stop_timeout, lc.stable_threshold) == (10.0, 10.0, 5.0)
    r = lc.restart
    assert (r.initial_delay, r.max_delay, r.backoff_factor, r.jitter, r.max_attempts) == (1.0, 90.0, 2.0, 0.1, 0)

    svc = validate_entry(entry("process.service", {
        "process": "p", "host": "h", "input": [0, "x"],
        "lifecycle": {"auto_start": True, "requires": ["db", "cache"], "depends_on": ["db", "other:queue"],
                      "start_timeout": "1m30s", "restart": {"initial_delay": "500ms", "max_attempts": 5},
                      "security": {"actor": {"id": "svc:worker"}, "policies": ["sec:admin"], "groups": ["ops"]}},
    }))
    assert svc.lifecycle.requires == ["db", "cache", "other:queue"]
    assert svc.lifecycle.start_timeout == 90.0
    assert svc.lifecycle.restart.initial_delay == 0.5
    assert svc.input == [0, "x"]


def test_bad_duration_and_ranges():
    with pytest.raises(EntryInvalid, match="field 'lifecycle.stop_timeout': invalid duration 'soon'"):
        validate_entry(entry("process.service", {"process": "p", "host": "h", "lifecycle": {"stop_timeout": "soon"}}))
    with pytest.raises(EntryInvalid, match="field 'lifecycle.restart.jitter'"):
        validate_entry(entry("process.service", {"process": "p", "host": "h", "lifecycle": {"restart": {"jitter": 2}}}))
    with pytest.raises(EntryInvalid, match="field 'lifecycle.startup'"):
        validate_entry(entry("db.sql.sqlite", {"file": ":memory:", "lifecycle": {"startup": "maybe"}}))


def test_function_pool_auto_selection():
    def pool(p):
        return validate_entry(entry("function.lua", {"source": "s", "method": "m", "pool": p})).pool

    assert (pool({}).type, pool({}).max_size) == ("lazy", 16)
    static = pool({"workers": 4})
    assert (static.type, static.workers) == ("static", 4)
    by_size = pool({"type": "static", "size": 3})
    assert by_size.workers == 3
    assert pool({"type": "static"}).workers == 8
    with pytest.raises(EntryInvalid, match="pool.buffer is not supported here: a call never queues"):
        pool({"workers": 2, "buffer": 10})
    with pytest.raises(EntryInvalid, match="pool.warm_start is not supported"):
        pool({"warm_start": True})


def test_module_names_must_not_carry_a_namespace():
    with pytest.raises(EntryInvalid, match="must not contain a namespace"):
        validate_entry(entry("library.lua", {"source": "s", "modules": ["app:json"]}))


def test_process_host_and_limits():
    h = validate_entry(entry("process.host", {"limits": {"max_memory": "64MiB", "slice_timeout": "50ms",
                                                         "max_instructions": 1000000}}))
    for name in ("workers", "queue_size", "local_queue_size"):
        with pytest.raises(EntryInvalid, match=f"host.{name} is not supported here: a process.host is one Lua state"):
            validate_entry(entry("process.host", {"host": {name: 4}}))
    assert (h.limits.max_memory, h.limits.slice_timeout) == (64 * 1024 * 1024, 0.05)
    limits = MODELS["process.host"].model_json_schema()["$defs"]["SandboxLimits"]["properties"]
    assert limits["max_memory"]["anyOf"][0]["x-kubernetes-int-or-string"] is True


def test_registry_entry_accepts_anything():
    for data in ({"any": {"thing": 1}}, [1, 2], "text", None):
        validate_entry(entry("registry.entry", data))


def test_references():
    assert entry_references(entry("process.service", {
        "process": "worker", "host": "hosts:main",
        "lifecycle": {"requires": ["db"], "security": {"policies": ["sec:p"]}}}, "app:svc")) == \
        {"app:worker", "hosts:main", "app:db", "sec:p"}
    assert entry_references(entry("function.lua", {"source": "s", "method": "m",
                                                   "imports": {"h": "helpers", "x": "lib:x"}}, "app.api:f")) == \
        {"app.api:helpers", "lib:x"}
    assert entry_references(entry("ns.requirement", {"targets": [{"entry": "svc", "path": "input"}]})) == {"app:svc"}
    # Unknown kinds and invalid data have no references rather than failing.
    assert entry_references(entry("unknown.kind", {"x": 1})) == set()
    assert entry_references(entry("process.service", {"process": 3})) == set()


def test_meta_references_are_declared_per_kind(monkeypatch):
    class Endpoint(KindModel):
        kind = "test.endpoint"
        meta_references = ("router", "nested.server")

    monkeypatch.setitem(MODELS, "test.endpoint", Endpoint)
    e = entry("test.endpoint", {}, "app.api:get", meta={"router": "api", "nested": {"server": "web:gw"}})
    assert entry_references(e) == {"app.api:api", "web:gw"}


def _missing_descriptions(schema: dict) -> list[str]:
    missing = []
    for name, definition in [("", schema), *schema.get("$defs", {}).items()]:
        for prop, body in definition.get("properties", {}).items():
            if not body.get("description"):
                missing.append(f"{name or schema.get('title')}.{prop}")
    return missing


@pytest.mark.parametrize("kind", sorted(MODELS))
def test_every_field_is_described_for_the_crd(kind):
    assert _missing_descriptions(MODELS[kind].model_json_schema()) == []


def test_durations_are_int_or_string_in_the_schema():
    schema = FunctionLua.model_json_schema()
    assert "pool" in schema["properties"]
    lifecycle = MODELS["process.service"].model_json_schema()["$defs"]["Lifecycle"]
    assert lifecycle["properties"]["start_timeout"]["x-kubernetes-int-or-string"] is True
    assert lifecycle["properties"]["start_timeout"]["default"] == "10s"


def test_function_security_is_refused_with_the_reason():
    with pytest.raises(EntryInvalid, match="security on a function.lua is not supported: a function runs under its caller"):
        validate_entry(entry("function.lua", {"source": "s", "method": "m", "security": {"actor": {"id": "x"}}}))
