"""system module (lua/system/system.md): runtime information, locks, exit, errors."""
from __future__ import annotations

import os
import socket


async def run(app, body: str, *args, modules=("system",)):
    return await app.run("local system = require('system')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=list(modules))


async def test_modules(app):
    mods = await run(app, "local m, err = system.modules(); assert(err == nil); return m")
    by_name = {m["name"]: m for m in mods}
    assert {"json", "expr", "system"} <= set(by_name)
    assert by_name["json"]["class"] == ["deterministic", "encoding"] and by_name["json"]["description"]


async def test_memory(app):
    res = await run(app, """
    local stats, err = system.memory.stats()
    assert(err == nil)
    local alloc = system.memory.allocated()
    local objs = system.memory.heap_objects()
    return {stats, alloc, objs}
    """)
    stats, alloc, objs = res
    for field in ("alloc", "total_alloc", "sys", "heap_alloc", "heap_sys", "heap_idle", "heap_in_use",
                  "heap_released", "heap_objects", "stack_in_use", "stack_sys", "mspan_in_use",
                  "mspan_sys", "num_gc", "next_gc"):
        assert isinstance(stats[field], (int, float)), field
    assert alloc > 10_000 and objs > 0 and stats["sys"] > alloc


async def test_memory_limit(make_app):
    app = make_app(max_memory=64 * 1024 * 1024)
    res = await run(app, """
    local before = system.memory.get_limit()
    local prev = system.memory.set_limit(32 * 1024 * 1024)
    local now = system.memory.get_limit()
    local prev2 = system.memory.set_limit(-1)
    local _, err = system.memory.set_limit("x")
    return {before, prev, now, prev2, system.memory.get_limit(), err:kind()}
    """)
    assert res == [64 << 20, 64 << 20, 32 << 20, 32 << 20, -1, "Invalid"]


async def test_gc(app):
    res = await run(app, """
    local ok = system.gc.collect()
    local p0 = system.gc.get_percent()
    local prev = system.gc.set_percent(200)
    local _, err = system.gc.set_percent(-5)
    return {ok, p0, prev, system.gc.get_percent(), err:kind()}
    """)
    assert res == [True, 100, 100, 200, "Invalid"]


async def test_runtime_and_process(app):
    from wippy.modules import offload
    res = await run(app, """
    local before = system.runtime.max_procs()
    local prev, err = system.runtime.max_procs(before + 3)
    local now = system.runtime.max_procs()
    local _, err0 = system.runtime.max_procs(0)
    local _, err1 = system.runtime.max_procs(1.5)
    local _, err2 = system.runtime.max_procs(100000)
    return {system.runtime.goroutines(), before, prev, now, system.runtime.cpu_count(),
            system.process.pid(), system.process.hostname(), system.process.cwd(), err0:kind(), err1:kind(),
            err2:kind(), err == nil}
    """)
    before = res[1]
    try:
        assert res[0] >= 1 and res[2:4] == [before, before + 3] and res[4] == os.cpu_count()
        # max_procs is the number of threads that run modules' CPU work (modules/offload.py)
        assert offload.workers() == before + 3 and offload._POOL._max_workers == before + 3
        assert res[5:8] == [os.getpid(), socket.gethostname(), os.getcwd()]
        assert res[8:] == ["Invalid", "Invalid", "Invalid", True]
        # CPU work runs on the new pool
        key = await run(app, """
        local crypto = require("crypto")
        local key = crypto.pbkdf2("pw", "salt", 1000, 16)
        return (key:gsub(".", function(c) return string.format("%02x", c:byte()) end))
        """, modules=("system", "crypto"))
        import hashlib
        assert bytes.fromhex(key) == hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 1000, 16)
    finally:
        offload.set_workers(before)


async def test_host_processes_report_steps_and_start_time(app):
    import time
    app.process("app:ticker", """
    local time = require("time")
    return function() for _ = 1, 5 do time.sleep("1ms") end process.inbox():receive() end
    """, modules=["time"])
    t0 = time.time_ns()
    res = await run(app, """
    local time = require("time")
    local pid = process.spawn("app:ticker", "app:host")
    time.sleep("50ms")
    local by_pid = {}
    for _, p in ipairs(system.hosts.processes("app:host")) do by_pid[p.pid] = p end
    local hosts = system.hosts.list()
    process.terminate(pid)
    return {by_pid[pid], by_pid[process.pid()], hosts[1].executed}
    """, modules=("system", "time"))
    t1 = time.time_ns()
    ticker, me, executed = res
    assert ticker["steps"] >= 6   # its first run and one after each of the 5 sleeps
    assert me["steps"] >= 1       # its runs so far (the one under way counts when it parks)
    assert t0 <= me["started_at"] <= ticker["started_at"] <= t1
    assert executed >= ticker["steps"] + me["steps"]


async def test_hosts(app):
    res = await run(app, """
    local hosts = system.hosts.list()
    local procs = system.hosts.processes("app:host")
    local _, err = system.hosts.processes("app:nohost")
    local _, err2 = system.hosts.processes()
    return {hosts, procs, err:kind(), err2:kind()}
    """)
    hosts, procs = res[0], res[1]
    assert hosts[0]["id"] == "app:host" and hosts[0]["processes"] >= 1
    assert any(p["source"] == "app:main" and p["host"] == "app:host" for p in procs)
    assert res[2:] == ["Invalid", "Invalid"]


async def test_host_processes_name_their_parent(app):
    app.process("app:child", "return function() process.inbox():receive() end")
    res = await run(app, """
    local child = process.spawn("app:child", "app:host")
    local by_pid = {}
    for _, p in ipairs(system.hosts.processes("app:host")) do by_pid[p.pid] = p end
    process.terminate(child)
    return {process.pid(), child, by_pid[child].parent, by_pid[process.pid()].parent == nil}
    """)
    me, child, parent, top = res
    assert child != me and parent == me and top is True


async def test_supervisor_without_runtime(app):
    res = await run(app, """
    local _, err = system.supervisor.states()
    local _, err2 = system.supervisor.state("")
    return {err:kind(), err2:kind()}
    """)
    assert res == ["Internal", "Invalid"]


async def test_cluster_on_a_standalone_node(app):
    res = await run(app, """
    local _, aerr = system.node.addr()
    local _, rerr = system.raft.is_leader()
    local _, serr = system.raft.stats()
    return {system.node.id(), system.node.role(), system.cluster.members(), system.cluster.leader(),
            system.cluster.size(), aerr:kind(), rerr:kind(), rerr:message(), serr:kind()}
    """)
    assert res == ["test", "non-member", [{"id": "test", "is_local": True}], "", 1,
                   "Internal", "Internal", "raft not available", "Internal"]


async def test_locks(app):
    app.process("app:holder", """
    local system = require('system')
    return function(name)
        local ok = system.lock.acquire(name)
        local msg = process.inbox():receive()
        return ok
    end""", modules=["system"])
    res = await run(app, """
    local ok, err = system.lock.acquire("orders.migration")
    local again, err2 = system.lock.acquire("orders.migration")
    local rel = system.lock.release("orders.migration")
    local rel2, err3 = system.lock.release("orders.migration")
    local _, bad = system.lock.acquire("")
    -- a lock held by another process
    local pid = process.spawn("app:holder", "app:host", "shared")
    local time = require("time")
    time.sleep("50ms")
    local taken, terr = system.lock.acquire("shared")
    local foreign = system.lock.release("shared")
    process.send(pid, "go", 1)
    time.sleep("50ms")
    local after = system.lock.acquire("shared")   -- released when the holder exited
    return {ok, err == nil, again, err2:kind(), rel, rel2, err3 == nil, bad:kind(), taken, terr:kind(), foreign, after}
    """, modules=["system", "time"])
    assert res == [True, True, False, "AlreadyExists", True, False, True, "Invalid", False, "AlreadyExists", False, True]


async def test_exit_without_runner(app):
    res = await run(app, "local ok, err = system.exit(0); local _, e2 = system.exit('x'); return {ok == nil, err:kind(), e2:kind()}")
    assert res == [True, "Internal", "Invalid"]


async def test_exit_requests_shutdown(app):
    codes = []
    app.node.request_exit = codes.append
    import asyncio
    assert await run(app, "return system.exit(3)") is True
    await asyncio.sleep(0)
    assert codes == [3]


async def test_permissions(make_app):
    app = make_app()
    app.engine.S.strict = True      # no actor: every check denies
    res = await run(app, """
    local _, e1 = system.memory.stats()
    local _, e2 = system.process.hostname()
    local _, e3 = system.exit(0)
    return {e1:kind(), e2:kind(), e3:kind(), e1:message()}
    """)
    assert res[:3] == ["Invalid", "Invalid", "Invalid"] and "system.read" in res[3]
