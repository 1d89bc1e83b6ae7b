"""Live change of a running app (reference §15 and one step beyond): functions, services,
YAML, broken edits, deletes and rollback."""
import asyncio
import textwrap
from pathlib import Path

import pytest

from wippy.engine.errors import WippyError
from wippy.runtime import Runtime

INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: greet
    kind: function.lua
    source: file://greet.lua
    method: greet
  - name: worker
    kind: process.lua
    source: file://worker.lua
    method: main
  - name: worker.service
    kind: process.service
    process: worker
    host: procs
    lifecycle: {auto_start: true, stop_timeout: 1s}
  - name: ask
    kind: process.lua
    source: file://ask.lua
    method: main
    modules: [time]
"""

WORKER = """\
local VERSION = "{version}"
local function main()
  process.registry.register("worker")
  local inbox, events = process.inbox(), process.events()
  while true do
    local r = channel.select({{inbox:case_receive(), events:case_receive()}})
    if r.channel == events then return "stopped" end
    process.send(r.value:from(), "version", VERSION)
  end
end
return {{main = main}}
"""

# asks with a deadline: a request that reaches a worker while it is being replaced is never
# answered, and the caller asks again (as an Erlang client would with a receive timeout)
ASK = """\
local time = require("time")
local function main()
  local ok, err = process.send("worker", "version")
  if not ok then return nil, err end
  local inbox, deadline = process.inbox(), time.after("1s")
  local r = channel.select({inbox:case_receive(), deadline:case_receive()})
  if r.channel == deadline then return nil, "no answer within 1s" end
  return r.value:payload():data()
end
return {main = main}
"""


async def eventually(check, timeout=5.0):
    """Poll an async check until it returns a truthy value."""
    deadline = asyncio.get_running_loop().time() + timeout
    last = None
    while True:
        try:
            last = await check()
            if last:
                return last
        except WippyError as e:
            last = e
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met; last result: {last!r}")
        await asyncio.sleep(0.05)


@pytest.fixture
async def live(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "greet.lua").write_text('return {greet = function(who) return "hello " .. who end}')
    (tmp_path / "worker.lua").write_text(WORKER.format(version="v1"))
    (tmp_path / "ask.lua").write_text(ASK)
    rt = Runtime(tmp_path, node_name="t")
    await rt.start()
    yield rt, tmp_path
    await rt.stop()


async def ask(rt):
    return await rt.node.exec("app:ask", "app:procs", [])


async def test_edit_function_changes_next_call(live):
    rt, d = live
    assert await rt.call("app:greet", "ann") == "hello ann"
    (d / "greet.lua").write_text('return {greet = function(who) return "HI " .. who:upper() end}')
    await eventually(lambda: _eq(rt.call("app:greet", "ann"), "HI ANN"))


async def test_call_in_flight_finishes_on_old_code(live):
    rt, d = live
    (d / "greet.lua").write_text(textwrap.dedent("""\
        local time = require("time")
        return {greet = function(who) time.sleep("300ms"); return "slow " .. who end}"""))
    text = (d / "_index.yaml").read_text().replace("method: greet\n", "method: greet\n    modules: [time]\n", 1)
    (d / "_index.yaml").write_text(text)
    await eventually(lambda: _eq(rt.call("app:greet", "a"), "slow a"))
    in_flight = asyncio.ensure_future(rt.call("app:greet", "b"))
    await asyncio.sleep(0.05)
    (d / "greet.lua").write_text('return {greet = function(who) return "fast " .. who end}')
    await eventually(lambda: _eq(rt.call("app:greet", "c"), "fast c"))
    assert await in_flight == "slow b"


async def test_edit_service_code_restarts_it_on_new_version(live):
    rt, d = live
    assert await eventually(lambda: ask(rt)) == "v1"
    old_pid = rt.supervisor.services["app:worker.service"].pid
    (d / "worker.lua").write_text(WORKER.format(version="v2"))
    await eventually(lambda: _eq(ask(rt), "v2"))
    assert rt.supervisor.services["app:worker.service"].pid != old_pid


async def test_broken_lua_is_refused_and_app_keeps_running(live):
    rt, d = live
    (d / "greet.lua").write_text('return {greet = function(who) return "x" .. end}')
    await eventually(lambda: _true(any("greet" in e and "syntax" in e.lower() for e in rt.errors)))
    err = next(e for e in rt.errors if "syntax" in e.lower())
    assert "_index.yaml" in err and "app:greet:1:" in err
    assert await rt.call("app:greet", "ann") == "hello ann"
    (d / "greet.lua").write_text('return {greet = function(who) return "fixed " .. who end}')
    await eventually(lambda: _eq(rt.call("app:greet", "ann"), "fixed ann"))


async def test_broken_yaml_is_refused_with_file_and_line(live):
    rt, d = live
    good = (d / "_index.yaml").read_text()
    (d / "_index.yaml").write_text(good + "  - name: [unclosed\n")
    await eventually(lambda: _true(any("_index.yaml" in e for e in rt.errors)))
    assert any("_index.yaml:" in e for e in rt.errors)
    assert await rt.call("app:greet", "ann") == "hello ann"
    assert await eventually(lambda: ask(rt)) == "v1"


async def test_bad_field_names_entry_and_field(live):
    rt, d = live
    text = (d / "_index.yaml").read_text().replace("    method: greet\n", "    methd: greet\n", 1)
    (d / "_index.yaml").write_text(text)
    await eventually(lambda: _true(any("methd" in e for e in rt.errors)))
    err = next(e for e in rt.errors if "methd" in e)
    assert "app:greet" in err and "_index.yaml:" in err
    assert await rt.call("app:greet", "ann") == "hello ann"


async def test_deleting_an_entry_stops_what_it_became(live):
    rt, d = live
    assert await eventually(lambda: ask(rt)) == "v1"
    pid = rt.supervisor.services["app:worker.service"].pid
    text = (d / "_index.yaml").read_text()
    start = text.index("  - name: worker.service")
    end = text.index("  - name: ask")
    (d / "_index.yaml").write_text(text[:start] + text[end:])
    await eventually(lambda: _true("app:worker.service" not in rt.supervisor.services))
    assert not rt.node.hosts["app:procs"].has_process(pid)
    assert rt.node.lookup_name("worker") is None


async def test_rollback_restores_earlier_behaviour(live):
    rt, d = live
    v1 = rt.registry.version
    (d / "greet.lua").write_text('return {greet = function(who) return "new " .. who end}')
    await eventually(lambda: _eq(rt.call("app:greet", "x"), "new x"))
    await rt.registry.apply_version(v1)
    assert await rt.call("app:greet", "x") == "hello x"


async def test_history_survives_restart(tmp_path):
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "greet.lua").write_text('return {greet = function(who) return "one " .. who end}')
    (tmp_path / "worker.lua").write_text(WORKER.format(version="v1"))
    (tmp_path / "ask.lua").write_text(ASK)
    rt = Runtime(tmp_path, node_name="t")
    await rt.start()
    (tmp_path / "greet.lua").write_text('return {greet = function(who) return "two " .. who end}')
    await eventually(lambda: _eq(rt.call("app:greet", "x"), "two x"))
    versions = len(rt.registry.versions())
    await rt.stop()
    rt2 = Runtime(tmp_path, node_name="t")
    await rt2.start()
    try:
        assert len(rt2.registry.versions()) == versions
        assert await rt2.call("app:greet", "x") == "two x"
        assert await eventually(lambda: ask(rt2)) == "v1"   # services restored from history start
    finally:
        await rt2.stop()


async def _eq(coro, expected):
    return (await coro) == expected


async def _true(value):
    return value


async def test_env_placeholders_resolve_when_decoded(tmp_path, monkeypatch):
    monkeypatch.setenv("WIPPY_TEST_GREETING", "hola")
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: e\nentries:\n'
        '  - {name: procs, kind: process.host, host: {max_processes: "${env:WIPPY_TEST_MAX|5}"}, lifecycle: {auto_start: true}}\n'
        '  - name: svc\n    kind: process.service\n    process: p\n    host: procs\n'
        '    input: ["${env:WIPPY_TEST_GREETING}", "${env:WIPPY_TEST_MISSING|fallback}"]\n'
        '  - {name: p, kind: process.lua, method: main, source: "return function(a, b) return a end"}\n')
    rt = Runtime(tmp_path, node_name="t")
    await rt.start()
    try:
        assert rt.errors == []
        svc = rt.decode(rt.registry.get("e:svc"))
        assert svc.input == ["hola", "fallback"]
        assert rt.registry.get("e:svc").data["input"][0] == "${env:WIPPY_TEST_GREETING}"   # stored raw
        assert rt.decode(rt.registry.get("e:procs")).host.max_processes == 5
    finally:
        await rt.stop()


async def test_missing_env_variable_is_a_clear_error(tmp_path):
    (tmp_path / "_index.yaml").write_text(
        'version: "1.0"\nnamespace: e\nentries:\n'
        '  - {name: procs, kind: process.host, host: {max_processes: "${env:WIPPY_TEST_NOT_SET}"}, lifecycle: {auto_start: true}}\n')
    rt = Runtime(tmp_path, node_name="t")
    await rt.start()
    try:
        assert any("WIPPY_TEST_NOT_SET" in e and "e:procs" in e and "_index.yaml:4" in e for e in rt.errors), rt.errors
    finally:
        await rt.stop()
