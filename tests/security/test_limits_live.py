"""Host limits: defaults in force on a host that sets none, and every limit changeable live on a
running host (no restart: the same engine, its processes still alive)."""
from __future__ import annotations

from pathlib import Path

import pytest

from wippy.engine.engine import Limits
from wippy.engine.errors import WippyError
from wippy.registry import Entry, Op
from wippy.runtime import Runtime

APP = """\
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - {name: sleeper, kind: process.lua, method: main, source: "function main() process.inbox():receive() end"}
  - name: spawner
    kind: process.lua
    method: main
    source: |
      function main(n)
        local pids = {}
        for i = 1, n do
          local pid, err = process.spawn("app:sleeper", "app:procs")
          if not pid then return {#pids, tostring(err)} end
          pids[#pids + 1] = pid
        end
        return {#pids}
      end
  - {name: spin, kind: process.lua, method: main, source: "function main() while true do end end"}
  - name: timers
    kind: process.lua
    method: main
    modules: [time]
    source: |
      local time = require("time")
      function main(n) local t = {} for i = 1, n do t[i] = time.after("1h") end return n end
  - name: work
    kind: process.lua
    method: main
    modules: [expr, html, json]
    source: |
      function main()
        local t = {} for i = 1, 50 do t[i] = i end
        local _, cerr = require("expr").eval("1", {x = t, y = {}, z = {}})
        local policy = require("html").sanitize.ugc_policy()
        local ok, out, serr = pcall(policy.sanitize, policy, string.rep("<b>x</b>", 50))
        local herr = not ok and out or serr or "sanitized"
        local ok, verr = require("json").validate({anyOf = {{type = "string"}, {type = "integer"}}}, {1, 2, 3})
        return {tostring(cerr), tostring(herr), tostring(verr)}
      end
  - name: grow
    kind: process.lua
    method: main
    source: |
      function main(mb, hold)
        local t = {}
        for i = 1, mb * 16 do t[i] = string.rep(string.char(65 + i % 26), 65536) end
        if hold then process.inbox():receive() end   -- keeps what it took past its slice
        return #t
      end
"""


@pytest.fixture
async def rt(tmp_path: Path):
    (tmp_path / "_index.yaml").write_text(APP)
    runtime = Runtime(tmp_path, node_name="t")
    await runtime.start()
    assert runtime.errors == []
    yield runtime
    await runtime.stop()


async def set_host(rt, **fields):
    entry = rt.registry.get("app:procs")
    data = dict(entry.data or {}, **fields)
    await rt.registry.apply([Op.update(Entry.from_dict({"id": "app:procs", "kind": "process.host", "data": data}))])


async def test_a_host_without_limits_gets_the_defaults(rt):
    S = rt.node.hosts["app:procs"].S
    assert (S.slice_timeout, S.max_processes, S.max_mailbox, S.max_timers, S.max_memory, S.busy_timeout) == (
        Limits.slice_timeout, Limits.max_processes, Limits.max_mailbox, Limits.max_timers, Limits.max_memory,
        Limits.busy_timeout)


async def test_limits_change_live_and_apply_to_new_work(rt):
    engine = rt.node.hosts["app:procs"]
    assert await rt.node.exec("app:spawner", "app:procs", [20]) == [20]

    await set_host(rt, host={"max_processes": 25})
    assert rt.node.hosts["app:procs"] is engine            # the same engine: no restart
    assert engine.process_count() >= 20                     # the sleepers still run
    n, err = await rt.node.exec("app:spawner", "app:procs", [20])
    assert n < 20
    assert "at its limit of 25 processes (max_processes)" in err

    await set_host(rt, host={"max_processes": 1000}, limits={"max_timers": 5})
    with pytest.raises(WippyError, match=r"timer limit of host app:procs \(max_timers: 5\)"):
        await rt.node.exec("app:timers", "app:procs", [6])
    assert await rt.node.exec("app:timers", "app:procs", [5]) == 5

    # a busy loop: preempted and rescheduled, then ended by the busy limit set live
    await set_host(rt, limits={"busy_timeout": "300ms"})
    assert rt.node.hosts["app:procs"] is engine
    with pytest.raises(WippyError, match=r"busy time limit of host app:procs \(busy_timeout: 0.3s\)"):
        await rt.node.exec("app:spin", "app:procs", [])


async def test_a_memory_limit_can_be_set_and_lowered_live(rt):
    engine = rt.node.hosts["app:procs"]
    assert await rt.node.exec("app:grow", "app:procs", [8]) == 128     # 8 MiB fits the default
    engine.lua.gccollect()
    await set_host(rt, limits={"max_memory": engine.memory_used() + 4 * 1024 * 1024})
    assert rt.node.hosts["app:procs"] is engine
    with pytest.raises(WippyError, match=r"memory limit of host app:procs \(max_memory: \d+ bytes\)"):
        await rt.node.exec("app:grow", "app:procs", [8, True])
    await set_host(rt, limits={"max_memory": "64MiB"})
    assert await rt.node.exec("app:grow", "app:procs", [8]) == 128
    await set_host(rt, limits={"max_memory": 0})                          # 0 = no limit
    assert engine.memory_limit() == 0


async def test_module_work_limits_change_live(rt):
    engine = rt.node.hosts["app:procs"]
    assert await rt.node.exec("app:work", "app:procs", []) == ["nil", "sanitized", re_any()]
    await set_host(rt, limits={"max_html_bytes": "100B", "max_schema_steps": 2})
    assert rt.node.hosts["app:procs"] is engine
    _, html, schema = await rt.node.exec("app:work", "app:procs", [])
    assert "larger than the sanitizer's limit of 100 bytes (max_html_bytes)" in html
    assert "validation took more than 2 steps (max_schema_steps)" in schema
    await set_host(rt, limits={"max_convert_values": 40})
    conv = (await rt.node.exec("app:work", "app:procs", []))[0]
    assert "value too large to convert (more than 40 values: max_convert_values of host app:procs)" in conv
    await set_host(rt, limits={"max_convert_tables": 3})
    conv = (await rt.node.exec("app:work", "app:procs", []))[0]
    assert "more than 3 tables: max_convert_tables" in conv
    await set_host(rt, limits={"max_convert_tables": 0, "max_convert_values": 0, "max_html_bytes": 0})
    assert (await rt.node.exec("app:work", "app:procs", []))[:2] == ["nil", "sanitized"]


class re_any:
    """Equal to any text (the validation's own message)."""
    def __eq__(self, other):
        return isinstance(other, str)
