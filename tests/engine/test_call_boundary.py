"""Lua values handed to a Python module call must not outlive the coroutine that handed them.

lupa binds each Lua value it passes to Python to the lua_State of the calling coroutine and
releases it through that state. A module call that fails with a Python error leaves the
error with lupa (kept until the next one) and the error's traceback frames hold the call's
arguments. Once the process ended, Lua freed its coroutine, and the next failed call made lupa
release those arguments through the freed state: heap corruption. It crashed
test_limits_live.py::test_module_work_limits_change_live in about half the runs (valgrind:
invalid writes in luaL_unref from tb_dealloc)."""
from __future__ import annotations

import asyncio
import ctypes
import gc
import logging
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from .conftest import HOST, LuaApp

FAILING_CALL = """function main()
  local policy = require("html").sanitize.ugc_policy()
  local ok, err = pcall(policy.sanitize, policy, "<b>x</b>")
  return tostring(ok) .. " " .. tostring(err)
end"""


def _lua_values() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o).__module__ == "lupa.lua54" and type(o).__name__ == "_LuaTable")


@asynccontextmanager
async def _serving(handler) -> AsyncIterator[int]:
    """An aiohttp server for every path, on a free loopback port (yielded)."""
    web_app = web.Application()
    web_app.router.add_route("*", "/{path:.*}", handler)
    runner = web.AppRunner(web_app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield runner.addresses[0][1]
    finally:
        await runner.cleanup()


def _main_coroutine(app: LuaApp, pid: str):
    """A weak table whose `co` is the process's main coroutine until Lua frees it, and the
    address of that coroutine's lua_State."""
    lua = app.engine.lua
    seen = lua.eval("setmetatable({}, {__mode = 'v'})")
    address = lua.eval("function(S, pid, seen) seen.co = S.procs[pid].main_task.co; "
                       "return tostring(seen.co):match('0x%x+') end")(app.engine.S, pid, seen)
    return seen, int(address, 16)


async def test_a_failed_module_call_keeps_no_value_of_its_caller():
    app = LuaApp()
    app.engine.set_work_limits(max_convert_tables=2, max_convert_values=0, max_html_bytes=0, max_schema_steps=0)
    assert (await app.run(FAILING_CALL, modules=["html"])).startswith(
        "false value too large to convert (more than 2 tables")
    before = _lua_values()
    # the error kept by lupa is replaced by the next one: still nothing of the caller reachable
    for _ in range(3):
        assert (await app.run(FAILING_CALL, modules=["html"])).startswith("false")
    assert _lua_values() <= before


async def test_a_process_killed_during_a_module_call_keeps_its_coroutine_until_the_call_has_ended():
    # The request's options table is held by the pending Python call; the process is killed
    # meanwhile. Its coroutine (whose lua_State lupa releases that table through) must outlive
    # the call's unwinding, whatever Lua collects in between.
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(_request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.Response(text="late")

    async with _serving(slow) as port:
        try:
            app = LuaApp()
            app.process("app:caller", """
            local http = require("http_client")
            function main(url) return http.get(url, {headers = {["X-Test"] = "1"}}) end""", modules=["http_client"])
            pid = app.node.spawn("app:caller", HOST, [f"http://127.0.0.1:{port}/"])
            await asyncio.wait_for(arrived.wait(), 10)
            seen, _ = _main_coroutine(app, pid)
            lua = app.engine.lua
            assert app.node.terminate(pid)
            lua.execute("collectgarbage('collect')")
            assert seen.co is not None                   # kept while Python unwinds the call
            for _ in range(50):
                await asyncio.sleep(0.01)
                lua.execute("collectgarbage('collect')")
                if seen.co is None:
                    break
            assert seen.co is None                       # and let go once it has
        finally:
            release.set()


async def _until_ended_and_freed(app: LuaApp, pid: str, seen, tries: int = 200) -> None:
    """Collects Lua garbage until the process has ended and Lua has freed its coroutine (or the
    tries run out: the caller asserts)."""
    for _ in range(tries):
        await asyncio.sleep(0.01)
        app.engine.lua.execute("collectgarbage('collect')")
        if not app.engine.has_process(pid) and seen.co is None:
            return


def _held_through(state: int) -> int:
    """How many Lua values Python holds that lupa would release through the lua_State at address
    `state`. A lupa value (_LuaTable, _LuaFunction...) is, after its object header and vtable
    pointer, {runtime, lua_State*, ref}: the pointer is read from the object's memory."""
    gc.collect()
    n = 0
    for o in gc.get_objects():
        if type(o).__module__ == "lupa.lua54" and type(o).__name__.startswith("_Lua"):
            words = struct.unpack("6Q", ctypes.string_at(id(o), 48))
            n += state in words[2:6]
    return n


async def test_a_websocket_connection_keeps_no_value_of_the_process_that_opened_it():
    # The connection's reader fills the client's channel until the connection has closed, which
    # is after the process that connected ended without closing it (its end only starts the
    # close): it must hold that channel through the engine's main state, not through the
    # process's coroutine, which Lua frees.
    arrived, release, closed = asyncio.Event(), asyncio.Event(), asyncio.Event()
    sockets: list[web.WebSocketResponse] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        arrived.set()
        await release.wait()
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        await closed.wait()
        await ws.send_str("late")
        await ws.close()
        return ws

    async with _serving(handler) as port:
        try:
            app = LuaApp()
            app.process("app:client", """
            local websocket = require("websocket")
            function main(url)
              local client, err = websocket.connect(url)
              assert(client, tostring(err))
              return "connected"
            end""", modules=["websocket"])
            pid = app.node.spawn("app:client", HOST, [f"ws://127.0.0.1:{port}/ws"])
            await asyncio.wait_for(arrived.wait(), 10)
            seen, state = _main_coroutine(app, pid)
            release.set()
            await _until_ended_and_freed(app, pid, seen, tries=500)
            assert sockets and not app.engine.has_process(pid)
            assert seen.co is None                       # the process ended and Lua freed its coroutine
            assert _held_through(state) == 0             # the connection holds nothing through it
            closed.set()                                 # its reader still delivers, then closes
            await asyncio.sleep(0.2)
            assert await app.run("function main() return 'alive' end") == "alive"
        finally:
            release.set()
            closed.set()


class _Keeping(logging.Handler):
    """Keeps every record, as pytest's log capture or a memory handler does."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_failed_bridge_call_logs_no_value_of_its_caller():
    # A Python bug in a bridge call (here the node's send, reached by a message to a process of
    # another host) is logged with its traceback. A handler that keeps records keeps that
    # traceback past the process: it must hold nothing through the process's coroutine.
    app = LuaApp()

    def broken(*_args):
        raise RuntimeError("send is broken")

    app.node.send = broken  # type: ignore[method-assign]
    handler = _Keeping()
    logging.getLogger("wippy.engine").addHandler(handler)
    try:
        app.process("app:sender", """
        function main()
          process.inbox():receive()
          local ok, err = process.send("{test@app:elsewhere|0x00001}", "t", {x = {1, 2}})
          return tostring(err)
        end""")
        pid = app.node.spawn("app:sender", HOST, [])
        await asyncio.sleep(0.05)
        seen, state = _main_coroutine(app, pid)
        app.engine.deliver(pid, "go", None, True)
        await _until_ended_and_freed(app, pid, seen)
        assert not app.engine.has_process(pid) and seen.co is None
        logged = [logging.Formatter().format(r) for r in handler.records]
        assert any("bridge call send_remote failed" in t and "RuntimeError: send is broken" in t for t in logged)
        assert _held_through(state) == 0
    finally:
        logging.getLogger("wippy.engine").removeHandler(handler)


class _RefusingTasks:
    """The engine's loop, refusing new tasks (as a closing loop, or a Temporal workflow's loop
    that is tearing down, does)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def create_task(self, coro, **_kw):
        coro.close()
        raise RuntimeError("this loop takes no new tasks")

    def __getattr__(self, name: str):
        return getattr(self._loop, name)


async def test_an_async_module_call_the_loop_refuses_keeps_no_value_of_its_caller():
    # The Python error reaches lupa, which keeps it until the next one: neither the error's frames
    # nor the unstarted call may hold the caller's arguments once the process has ended.
    app = LuaApp()
    app.process("app:caller", """
    local http = require("http_client")
    function main()
      process.inbox():receive()
      -- (a unix socket: the request is the first Python call, with the options table)
      local ok, err = pcall(http.get, "http://x/", {unix_socket = "/nonexistent.sock", headers = {["X-Test"] = "1"}})
      return tostring(err)
    end""", modules=["http_client"])
    pid = app.node.spawn("app:caller", HOST, [])
    await asyncio.sleep(0.05)
    seen, state = _main_coroutine(app, pid)
    app.engine.loop = _RefusingTasks(app.engine.loop)  # type: ignore[assignment]
    app.engine.deliver(pid, "go", None, True)
    await _until_ended_and_freed(app, pid, seen)
    assert not app.engine.has_process(pid) and seen.co is None
    assert _held_through(state) == 0
