"""exec module (lua/dynamic/exec.md) and the exec.native kind (system/exec.md): granted
commands only, clean environment, streams, stdin, signals, limits, permissions."""
from __future__ import annotations

import asyncio
import os

import pytest

from tests.engine.conftest import HOST, FakeEntry
from wippy.engine.errors import WippyError
from wippy.runtime import Runtime


def executor(app, entry_id="app:exec", **data):
    app.entries[entry_id] = FakeEntry(entry_id, "exec.native", data)


async def run(app, body: str, *args):
    try:
        return await app.run("local exec = require('exec')\nreturn function(...)\n" + body + "\nend",
                             *args, modules=["exec"])
    finally:   # reap what the test killed, so no subprocess outlives the test's loop
        from wippy.execs import Executors
        for ex in Executors.of(app.node).executors.values():
            for p in list(ex.running):
                p.kill()
                await p.proc.wait()
        await asyncio.sleep(0)


async def test_run_and_read_stdout(app, tmp_path):
    executor(app, default_work_dir=str(tmp_path), default_env={"GREETING": "hi"})
    (tmp_path / "f.txt").write_text("x")
    res = await run(app, """
    local executor, err = exec.get("app:exec")
    assert(err == nil, tostring(err))
    local proc = executor:exec("echo \\"$GREETING $HOME\\"; ls; pwd")
    local stdout = proc:stdout_stream()
    assert(proc:start())
    local out = {}
    while true do
        local chunk = stdout:read(4096)
        if not chunk then break end
        out[#out + 1] = chunk
    end
    local code = proc:wait()
    stdout:close()
    executor:release()
    return {table.concat(out), code}
    """)
    # only the configured environment reaches the command (no HOME)
    assert res == [f"hi \nf.txt\n{tmp_path}\n", 0]


async def test_work_dir_env_and_stderr(app, tmp_path):
    executor(app, default_env={"A": "1"})
    res = await run(app, f"""
    local executor = exec.get("app:exec")
    local proc = executor:exec("echo $A$B; pwd; echo oops >&2; exit 3", {{work_dir = {str(tmp_path)!r}, env = {{B = "2"}}}})
    local stdout, stderr = proc:stdout_stream(), proc:stderr_stream()
    proc:start()
    -- a read returns what has arrived: echo and pwd may come as separate chunks
    local function read_all(stream)
      local parts = {{}}
      while true do
        local chunk = stream:read(4096)
        if not chunk then return table.concat(parts) end
        parts[#parts + 1] = chunk
      end
    end
    local out, err_out = read_all(stdout), read_all(stderr)
    return {{out, err_out, proc:wait()}}
    """)
    assert res == [f"12\n{tmp_path}\n", "oops\n", 3]


async def test_write_stdin(app):
    executor(app)
    res = await run(app, """
    local proc = exec.get("app:exec"):exec("sort")
    local stdout = proc:stdout_stream()
    proc:start()
    proc:write_stdin("banana\\napple\\ncherry\\n")
    proc:write_stdin("")
    local sorted = stdout:read()
    proc:wait()
    stdout:close()
    return sorted
    """)
    assert res == "apple\nbanana\ncherry\n"


async def test_signal_and_close(app):
    executor(app)
    res = await run(app, """
    local e = exec.get("app:exec")
    local p1 = e:exec("sleep 30")
    p1:start()
    p1:signal(2)
    local c1 = p1:wait()
    local p2 = e:exec("sleep 30")
    p2:start()
    local closed = p2:close()
    local _, err = p2:wait()
    local p3 = e:exec("trap '' TERM; sleep 30")
    p3:start()
    p3:close(true)
    return {c1, closed, err:kind()}
    """)
    assert res == [130, True, "Invalid"]


async def test_whitelist(app):
    executor(app, command_whitelist=["echo allowed"])
    res = await run(app, """
    local e = exec.get("app:exec")
    local ok = e:exec("echo allowed")
    local p, err = e:exec("echo allowed; rm -rf /")
    return {ok ~= nil, p == nil, err:kind(), err:message()}
    """)
    assert res[:3] == [True, True, "Invalid"] and "not allowed" in res[3]


@pytest.mark.parametrize("body, msg", [
    ('local _, err = exec.get("")', "non-empty"),
    ('local _, err = exec.get("app:nosuch")', "not found"),
    ('local _, err = exec.get("app:main")', "not an executor"),
    ('local p = exec.get("app:exec"):exec("true"); local _, err = p:wait()', "not started"),
    ('local p = exec.get("app:exec"):exec("true"); local _, err = p:write_stdin("x")', "not started"),
    ('local p = exec.get("app:exec"):exec("true"); p:start(); local _, err = p:start()', "already started"),
    ('local p = exec.get("app:exec"):exec("true"); p:close(); local _, err = p:start()', "closed"),
    ('local e = exec.get("app:exec"); e:release(); local _, err = e:exec("true")', "released"),
    ('local _, err = exec.get("app:exec"):exec("true", {work_dir = "/no/such/dir"})', "does not exist"),
    ('local p = exec.get("app:exec"):exec("true"); p:start(); local _, err = p:stdout_stream()', "before start"),
])
async def test_errors(app, body, msg):
    executor(app)
    res = await run(app, body + "; return {err:kind(), err:message()}")
    assert res[0] == "Invalid" and msg in res[1], res


async def test_permission_denied(make_app):
    app = make_app()
    executor(app)
    app.engine.S.strict = True
    res = await run(app, 'local _, err = exec.get("app:exec"); return {err:kind(), err:message()}')
    assert res[0] == "Invalid" and "exec.get" in res[1]


async def test_max_processes(app):
    executor(app, max_processes=1)
    res = await run(app, """
    local e = exec.get("app:exec")
    local p1 = e:exec("sleep 5"); p1:start()
    local p2 = e:exec("true")
    local _, err = p2:start()
    p1:close(true)
    return {err:kind(), err:message()}
    """)
    assert res[0] == "Invalid" and "max_processes" in res[1]


async def test_loop_not_blocked(app):
    executor(app)
    ticks = []

    async def ticker():
        for _ in range(10):
            ticks.append(1)
            await asyncio.sleep(0.02)
    t = asyncio.ensure_future(ticker())
    assert await run(app, 'local p = exec.get("app:exec"):exec("sleep 0.3"); p:start(); return p:wait()') == 0
    await t
    assert len(ticks) == 10


async def test_kind_from_yaml_and_delete_kills(tmp_path):
    (tmp_path / "_index.yaml").write_text("""
version: "1.0"
namespace: app
entries:
  - name: shell
    kind: exec.native
    default_work_dir: .
    default_env: {LANG: C}
    command_whitelist: ["sleep 30", "echo $LANG"]
  - name: start
    kind: function.lua
    modules: [exec]
    method: main
    source: |
      local exec = require("exec")
      function main()
        local e = exec.get("shell")
        local p = e:exec("echo $LANG")
        local out = p:stdout_stream()
        p:start()
        local text = out:read()
        p:wait()
        return text
      end
  - name: hold
    kind: function.lua
    modules: [exec]
    method: main
    source: |
      local exec = require("exec")
      function main()
        local s = exec.get("shell"):exec("sleep 30")
        local out = s:stdout_stream()
        s:start()
        return out:read()      -- blocks until the command ends (no output, then end of stream)
      end
""")
    rt = Runtime(tmp_path, node_name="test", persist_history=False)
    await rt.start()
    try:
        assert not rt.errors
        assert await rt.call("app:start") == "C\n"
        from wippy.execs import Executors
        ex = Executors.of(rt.node).executors["app:shell"]
        held = asyncio.ensure_future(rt.call("app:hold"))
        for _ in range(200):
            if ex.running:
                break
            await asyncio.sleep(0.01)
        assert len(ex.running) == 1
        proc = next(iter(ex.running)).proc
        from wippy.registry import Op
        await rt.registry.apply([Op.delete("app:shell")])
        assert await asyncio.wait_for(proc.wait(), 5) == -9
        assert await asyncio.wait_for(held, 5) is None     # its output ended with the command
    finally:
        await rt.stop()
    from wippy.kinds.models.catalog import MODELS
    with pytest.raises(ValueError):
        MODELS["exec.native"].from_data({"command_whitelst": []})


class _Recorded(set):
    """An executor's `running` set that remembers every command it ever held."""

    def __init__(self):
        super().__init__()
        self.all = []

    def add(self, p):
        self.all.append(p)
        super().add(p)


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of the group that are not zombies (a reparented zombie may wait for init)."""
    alive = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) == pgid and fields[0] != "Z":
                alive.append(int(d))
    return alive


@pytest.mark.parametrize("ending", ["return", "error", "terminate"])
async def test_commands_die_with_their_process(app, ending):
    # a command does not outlive the Lua process that started it, however that process ends;
    # its whole process group goes (here a shell with a background child of its own)
    executor(app)
    from wippy.execs import Executors
    ex = Executors.of(app.node).get("app:exec")
    ex.running = _Recorded()
    app.process("app:starter", """
    local exec = require("exec")
    local time = require("time")
    function main(ending)
      local e = exec.get("app:exec")
      local done = e:exec("true")
      done:start(); done:wait()        -- a command that has ended is forgotten without harm
      local p = e:exec("sleep 30 & sleep 30; wait")
      p:start()
      if ending == "error" then error("boom") end
      if ending == "terminate" then time.sleep("30s") end
      return "started"
    end
    """, modules=["exec", "time"])
    try:
        await _end_starter(app, ex, ending)
        done, sleeper = ex.running.all
        assert await asyncio.wait_for(done.proc.wait(), 5) == 0
        assert await asyncio.wait_for(sleeper.proc.wait(), 5) == -9
        for _ in range(500):
            if not _alive_in_group(sleeper.proc.pid):
                break
            await asyncio.sleep(0.01)
        assert _alive_in_group(sleeper.proc.pid) == []
        assert not ex.running
    finally:   # on failure, leave nothing behind
        for p in ex.running.all:
            p.kill()


async def _end_starter(app, ex, ending):
    if ending == "terminate":
        pid = app.node.spawn("app:starter", HOST, [ending])
        for _ in range(500):
            if len(ex.running.all) == 2:
                break
            await asyncio.sleep(0.01)
        app.node.terminate(pid)
    elif ending == "error":
        with pytest.raises(WippyError):
            await app.node.exec("app:starter", HOST, [ending])
    else:
        assert await app.node.exec("app:starter", HOST, [ending]) == "started"

