"""Hostile configuration: YAML alias bombs, entry ids that are paths or control characters,
secrets echoed by errors, `${env:...}` smuggled in through changes made from Lua."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from wippy.engine.errors import WippyError
from wippy.loader import load_tree
from wippy.registry import Entry, InvalidEntryId
from wippy.registry.entry import parse_id
from wippy.runtime import Runtime

BILLION_LAUGHS = """\
version: "1.0"
namespace: app
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
entries:
  - {name: bomb, kind: registry.entry, data: {x: *i}}
  - {name: fine, kind: registry.entry, data: {x: 1}}
"""


def test_yaml_alias_bomb_is_refused_at_load_with_file_and_line(tmp_path):
    (tmp_path / "_index.yaml").write_text(BILLION_LAUGHS)
    t = time.perf_counter()
    result = load_tree(tmp_path)
    assert time.perf_counter() - t < 5
    assert "app:bomb" not in result.entries
    [err] = result.errors
    assert "aliases expand to more than 500000 values" in err.message
    assert err.file.endswith("_index.yaml") and err.line is not None


async def test_small_alias_trees_still_load_and_are_recorded(tmp_path):
    small = "\n".join(line for line in BILLION_LAUGHS.splitlines() if line[:2] not in ("d:", "e:", "f:", "g:", "h:", "i:"))
    (tmp_path / "_index.yaml").write_text(small.replace("data: {x: *i}", "data: {x: *c}") + "\n")
    rt = Runtime(tmp_path, node_name="t")   # 9^3 values: fine
    await rt.start()
    try:
        assert rt.registry.get("app:bomb") is not None
        assert rt.registry.version >= 1
    finally:
        await rt.stop()


@pytest.mark.parametrize("bad", ["app:../../x", "app:x\x00y", "app:x\ny", "../app:x", "app:x y", "app:x/y",
                                 "app:", ":x", "app:a:b", "app:.x", "app:x.", "app:x..y", "a" * 250 + ":" + "b" * 10,
                                 "app:x\u202e", "app:\t"])
def test_entry_ids_with_paths_controls_or_too_long_are_refused(bad):
    with pytest.raises(InvalidEntryId):
        parse_id(bad)
    with pytest.raises(InvalidEntryId):
        Entry.from_dict({"id": bad, "kind": "registry.entry"})


@pytest.mark.parametrize("good", ["app:hello", "app.api.v2:get_user.endpoint", "my-app:list-orders", "a:b", "x_1:Y-2.z"])
def test_usual_entry_ids_are_accepted(good):
    assert ":".join(parse_id(good)) == good


def test_bad_entry_names_in_a_file_are_reported_and_the_rest_loads(tmp_path):
    (tmp_path / "_index.yaml").write_text('version: "1.0"\nnamespace: app\nentries:\n'
                                          '  - {name: "../../x", kind: registry.entry}\n'
                                          '  - {name: "ok", kind: registry.entry}\n')
    result = load_tree(tmp_path)
    assert list(result.entries) == ["app:ok"]
    assert len(result.errors) == 1 and result.errors[0].line == 4


SECRET = "s3cr3t-Value-42"

APP = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: main
    kind: process.lua
    method: main
    modules: [registry]
    source: file://main.lua
"""


@pytest.fixture
async def rt(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("WIPPY_TEST_SECRET", SECRET)
    (tmp_path / "_index.yaml").write_text(APP)
    (tmp_path / "main.lua").write_text("return {main = function(body) return load(body, 'body', 't', _ENV)() end}")
    runtime = Runtime(tmp_path, node_name="t")
    await runtime.start()
    yield runtime
    await runtime.stop()


async def run(rt, body: str):
    return await rt.node.exec("app:main", "app:procs", ["local registry = require('registry')\n" + body])


async def test_env_placeholders_in_changes_from_lua_are_refused_without_the_value(rt):
    for field in ('timeouts = {read = "${env:WIPPY_TEST_SECRET}"}', 'addr = "${WIPPY_TEST_SECRET}"',
                  'addr = ":0", meta_x = {"${env:WIPPY_TEST_SECRET|d}"}'):
        with pytest.raises(WippyError) as e:
            await run(rt, f"""
                local c = registry.snapshot():changes()
                c:create({{namespace = "app", name = "leak", kind = "http.service", data = {{{field}}}}})
                local v, err = c:apply()
                if err then error(err) end""")
        assert e.value.kind == "PermissionDenied", e.value
        assert "not allowed in changes made from Lua" in str(e.value)
        assert SECRET not in str(e.value)
    assert rt.registry.get("app:leak") is None


async def test_a_literal_dollar_brace_and_lua_sources_are_still_allowed_from_lua(rt):
    await run(rt, """
        local c = registry.snapshot():changes()
        c:create({namespace = "app", name = "code", kind = "function.lua",
                  data = {source = "return function() return '${env:X}' end", method = "f"}})
        c:create({namespace = "app", name = "note", kind = "registry.entry", data = {text = "$${not a placeholder}"}})
        local v, err = c:apply()
        if err then error(err) end""")
    assert rt.registry.get("app:code") is not None and rt.registry.get("app:note") is not None


async def test_an_invalid_value_from_the_environment_is_not_echoed(tmp_path, monkeypatch):
    monkeypatch.setenv("WIPPY_TEST_SECRET", SECRET)
    (tmp_path / "_index.yaml").write_text(APP + '  - {name: web, kind: http.service, addr: ":0",'
                                          ' timeouts: {read: "${env:WIPPY_TEST_SECRET}"}}\n')
    (tmp_path / "main.lua").write_text("return {main = function() end}")
    runtime = Runtime(tmp_path, node_name="t")
    try:
        await runtime.start()
        text = "\n".join(str(e) for e in runtime.errors)
    except Exception as e:   # noqa: BLE001 - refusing to start is a fine outcome too
        text = str(e)
    finally:
        await runtime.stop()
    assert "app:web" in text and "timeouts" in text
    assert SECRET not in text
    assert "<value of ${env:WIPPY_TEST_SECRET}>" in text


async def test_a_resolved_secret_is_never_echoed_by_exit_errors_logs_or_reports(tmp_path, monkeypatch, caplog):
    # the value reaches Lua (an app may use it) through `env`; an entry resolves it, so the
    # node knows it as a secret: the process's exit error, its log line and the runtime's
    # error reports show the placeholder instead
    monkeypatch.setenv("WIPPY_TEST_SECRET", SECRET)
    (tmp_path / "_index.yaml").write_text(APP.replace("modules: [registry]", "modules: [env]") +
                                          '  - {name: web, kind: http.service, addr: "127.0.0.1:0",'
                                          ' meta: {token: "${env:WIPPY_TEST_SECRET}"}}\n'
                                          '  - {name: leaky.service, kind: process.service, process: main,'
                                          ' host: procs, lifecycle: {auto_start: true, restart: {max_attempts: 1}}}\n')
    (tmp_path / "main.lua").write_text('return {main = function() error("token is " .. require("env").get('
                                       '"WIPPY_TEST_SECRET")) end}')
    runtime = Runtime(tmp_path, node_name="t")
    await runtime.start()
    try:
        with pytest.raises(WippyError) as e:
            await runtime.node.exec("app:main", "app:procs", [])
        runtime.report(f"service failed: {e.value}")
    finally:
        await runtime.stop()
    assert "token is <value of ${env:WIPPY_TEST_SECRET}>" in str(e.value)
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    assert "token is" in logged          # the service's failure was logged...
    assert SECRET not in logged          # ...without the value
    assert SECRET not in "\n".join(runtime.errors)
