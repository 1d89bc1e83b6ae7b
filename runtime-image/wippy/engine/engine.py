"""An engine: one Lua state serving one host, driven by the asyncio loop.

The scheduler itself is Lua (lua/core.lua); this class feeds it the clock, wakes it when
Python completes something, and answers the few calls that need Python: compiling
entries, routing to other engines, and awaiting Python coroutines.
"""
from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import time
import traceback
from importlib import resources
from typing import TYPE_CHECKING, Any, Callable

from lupa import lua54

from .convert import to_lua, to_python
from .errors import WippyError, INTERNAL, NOT_FOUND, INVALID
from .. import lang, native

if TYPE_CHECKING:
    from .node import Node

log = logging.getLogger("wippy.engine")

RUN_BUDGET = 2000            # resumes per pump before yielding back to asyncio
PASS_TIME = 0.02             # seconds of CPU per pump before yielding back to asyncio


def _detach(e: BaseException) -> None:
    """Releases the locals of every frame in e's traceback, and in its cause's and context's.
    lupa keeps the last Python exception that became a Lua error, until the next one,
    and its frames hold the Lua values the calling coroutine passed in; lupa releases such a value
    through the lua_State of the coroutine it came from, which Lua frees once the process has
    ended: that release wrote into freed memory (heap corruption; valgrind of test_limits_live).
    A frame still running (the caller's own) is skipped: it drops its arguments itself."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if x.__traceback__ is not None:
            traceback.clear_frames(x.__traceback__)
        todo += (x.__cause__, x.__context__)


async def _detached(coro: Any) -> Any:
    """An async module call that ends with an error (a cancel included) leaves its arguments in
    no traceback: the error outlives the call, and Lua frees the caller's coroutine once it is
    told the call is over (see _detach)."""
    try:
        return await coro
    except BaseException as e:
        _detach(e)
        raise


class Limits:
    """Defaults of a host's limits (process.host `limits`/`host` fields; 0 = no limit). They hold a
    hostile app: one process ends with a LimitExceeded error naming it and the limit, and every
    other process and the asyncio loop (HTTP included) keep going."""
    slice_timeout = 0.1                  # CPU seconds one slice may run without yielding (the
                                         # node runs one slice at a time: this bounds a stall);
                                         # past 10ms of wall time (or half of it) a process is
                                         # preempted at its next yield point, and ended at all of
                                         # it where it cannot yield
    busy_timeout = 5.0                   # CPU seconds a process may run without waiting, across
                                         # preemptions
    max_instructions = 0                 # Lua instructions per slice (checked every 10,000)
    max_memory = 512 * 1024 * 1024       # bytes of the host's Lua state, all processes together
    max_processes = 100_000              # processes alive on the host at once
    max_mailbox = 100_000                # messages waiting in one process's inbox (or topic channel)
    max_timers = 1_000                   # timers and tickers alive in one process
    # work one call of a module may do (they bound a stall of the event loop, or of a worker)
    max_convert_tables = 50_000          # tables of one Lua value converted to Python
    max_convert_values = 100_000         # items of those tables
    max_html_bytes = 8 * 1024 * 1024     # a document html.sanitize takes
    max_schema_steps = 500_000           # checks of one JSON Schema validation


def memory_cap(max_memory: int | None) -> int:
    """The allocator's hard cap: max_memory plus a reserve. Processes are ended when the heap
    passes max_memory; the reserve is for the runtime's own allocations (a failed one outside a
    task would abort the node)."""
    if not max_memory:
        return 0
    return max_memory + max(32 * 1024 * 1024, max_memory // 4)


DEFAULT_SLICE_TIMEOUT = Limits.slice_timeout


def _lua_source(package: str, name: str) -> str:
    return resources.files(package).joinpath(name).read_text()


def _deny_private(obj: Any, name: Any, is_setting: bool) -> Any:
    # Lua code never gets Python objects, but keep the door shut anyway.
    if not isinstance(name, str) or name.startswith("_"):
        raise AttributeError("access denied")
    return name


class Engine:
    def __init__(self, node: "Node", host: str, *, slice_timeout: float = Limits.slice_timeout,
                 max_instructions: int = Limits.max_instructions, max_memory: int | None = Limits.max_memory,
                 max_processes: int = Limits.max_processes, max_mailbox: int = Limits.max_mailbox,
                 max_timers: int = Limits.max_timers, busy_timeout: float = Limits.busy_timeout,
                 max_convert_tables: int = Limits.max_convert_tables,
                 max_convert_values: int = Limits.max_convert_values,
                 max_html_bytes: int = Limits.max_html_bytes, max_schema_steps: int = Limits.max_schema_steps,
                 terminal: bool = False, modules: set[str] | None = None):
        self.node = node
        self.set_work_limits(max_convert_tables=max_convert_tables, max_convert_values=max_convert_values,
                             max_html_bytes=max_html_bytes, max_schema_steps=max_schema_steps)
        self.host = host
        self.terminal = terminal
        self.hide_logs = False     # terminal.host hide_logs: its processes' logger calls are dropped
        self.loop = asyncio.get_running_loop()
        # always created with a memory cap (0 = none) so that a live change can set one
        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True, register_eval=False, register_builtins=False,
                                    attribute_filter=_deny_private, max_memory=memory_cap(max_memory))
        self.lua.execute("python = nil")
        # the native json codec's `plain`, which convert.to_python uses for plain data (or None)
        codec = native.load(self, "json")
        self.plain = codec.plain if codec is not None else None
        self._scheduled = False
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._tokens = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._calls: dict[int, asyncio.Future] = {}
        self.closed = False
        self.wire_pending = False   # wire.lua holds messages for other nodes (sent at the pass's end)
        # whether sends to other nodes are encoded here (wire.lua): only on a node in a cluster (on
        # others a pid naming another node is routed by its host, e.g. a workflow's), and not on a
        # node that routes sends itself (a workflow's, whose sends are Temporal commands)
        self.wire = callable(getattr(node, "send_wire", None)) and getattr(node, "cluster", None) is not None

        cfg = self.lua.table_from({"node": node.name, "host": host, "slice_timeout": slice_timeout,
                                   "max_instructions": max_instructions, "max_processes": max_processes,
                                   "max_mailbox": max_mailbox, "max_timers": max_timers, "pass_time": PASS_TIME,
                                   "max_memory": max_memory or 0, "busy_timeout": busy_timeout,
                                   "strict_security": getattr(node, "strict_security", False)})
        self.P = self._bridge()
        self.S = self.lua.execute(_lua_source("wippy.engine.lua", "core.lua"), self.P, cfg)
        self.S.wire = self.wire
        self.lua.execute(_lua_source("wippy.engine.lua", "wire.lua"), self.S, self.P)
        self.P.patterns = self.lua.execute(_lua_source("wippy.engine.lua", "patterns.lua"), self.S)
        self.lua.execute(_lua_source("wippy.engine.lua", "yieldpoints.lua"), self.S)
        self.lua.execute(_lua_source("wippy.engine.lua", "sandbox.lua"), self.S, self.P)
        self.lua.execute(_lua_source("wippy.lang", "types.lua"), self.S, self.P)
        self._classify = self.lua.eval("""function(S) return function(v)
            local mt = getmetatable(v)
            if mt == S.ERR then return 'error' elseif mt == S.PAYLOAD then return 'payload' end
            return nil end end""")(self.S)
        self._same = self.lua.eval("function(v) return v end")
        # a call into Python is a preemption point: past half its slice, the task yields first
        self._wrap_py = self.lua.eval(
            "function(checkpoint) return function(f) return function(...) checkpoint(); return f(...) end end end")(
            self.S.checkpoint)
        self._wrap_async = self.lua.eval("""function(S, start) return function(f) return function(...)
            local tok, err = start(f, ...)
            if tok == nil then return nil, err end
            return S.await_token(tok) end end end""")(self.S, self._start_async)
        from ..modules import install_all
        install_all(self, modules)
        self.S.seal_base()
        self.S.lang_after_seal()
        # Lua that Python runs on a task's behalf (on the main thread) counts against that task
        self.lua.eval("function(hook, n) debug.sethook(hook, '', n) end")(self.S.budget_hook, 10000)
        self._unhook = self.lua.eval("function(co) debug.sethook(co) end")
        self._runner_body = self.lua.eval(
            "function(S, budget) while true do budget = coroutine.yield(S.run(budget)) end end")
        self._runner: Any = None   # the scheduler's Lua coroutine (lupa is untyped)

    # ------------------------------------------------------------------ bridge
    def _bridge(self):
        from ..modules.binary import take
        node = self.node
        fns: dict[str, Callable] = {
            "arm": self._arm,
            "compile": self._compile,
            "signature": lang.signature_lua,
            "route_event": self._route_event,
            "route_unlink": lambda pid, other: node.unlink(pid, other),
            "on_exit": node.on_exit,
            "lookup_name": node.lookup_name,
            "register_name": self._register_name,
            "unregister_name": self._unregister_name,
            "send_remote": lambda pid, topic, frm, value: node.send(pid, topic, frm, self.py(value)),
            "send_wire": lambda to, host, ref, n: node.send_wire(to, host, take(ref, n)),
            "wire_pending": self._wire_pending,
            "routes_itself": lambda pid: bool(getattr(node, "routes_itself", lambda _pid: False)(pid)),
            "wire_dropped": lambda n, why: log.warning("engine %s: %d messages dropped: %s", self.host, n, why),
            "spawn_remote": self._spawn_remote,
            "exec_remote": self._exec_remote,
            "cancel_remote": lambda pid, frm, reason: node.cancel(pid, frm, reason),
            "terminate_remote": lambda pid: node.terminate(pid),
            "monitor_remote": lambda pid, watcher, on: node.monitor(pid, watcher, on),
            "link_remote": self._link_remote,
            "cancel_token": self._cancel_token,
            "call_done": self._call_done,
            "frame_id": node.frame_id,
            "format_duration": _format_duration_ns,
            "wall_ns": node.wall_ns,
        }
        bridge = self.lua.table_from({name: self._guarded(name, fn) for name, fn in fns.items()})
        # read on every pass and by the budget hook, and they cannot raise: called unguarded (a
        # guard is one more Python frame per call)
        bridge.monotonic = time.monotonic if type(self.loop).time is asyncio.BaseEventLoop.time else self.loop.time
        bridge.loop_idle = self._loop_idle_fn()
        bridge.thread_time = time.thread_time
        return bridge

    def _guarded(self, name: str, fn: Callable) -> Callable:
        """A Python error must not unwind through the scheduler (it would drop the whole pass):
        it is logged and the Lua caller gets nil plus an error."""
        def call(*args):
            try:
                return fn(*args)
            except WippyError as e:
                return None, self.new_error(e)
            except Exception as e:
                # logged as text: a handler that keeps records (a test's log capture) would keep
                # the error, its arguments and its frames' Lua values past the calling coroutine
                del args            # this frame stays in the traceback: see _detach
                _detach(e)
                log.error("engine %s: bridge call %s failed\n%s", self.host, name,
                          "".join(traceback.format_exception(e)).rstrip())
                return None, self.new_error(WippyError(INTERNAL, f"{name}: {type(e).__name__}: {e}"))
        return call

    def _wire_pending(self) -> None:
        self.wire_pending = True
        self.kick()   # a pass sends them, even if they were queued outside one

    def flush_wire(self) -> None:
        """Send what wire.lua queued for other nodes (at the end of each pass, and before any other
        frame Python sends during one, so one sender's order holds)."""
        if self.wire_pending:
            self.wire_pending = False
            self.S.flush_remote()

    def _route_event(self, pid: str, ev) -> None:
        try:
            event = self.py(ev)
        except Exception as e:   # e.g. a result that cannot cross (bytes that are not UTF-8)
            event = {"kind": ev.kind, "type": ev.kind, "from": ev["from"],
                     "result": {"error": WippyError(INTERNAL, f"result could not be delivered: {e}")}}
        self.node.route_event(pid, event)

    def _loop_idle_fn(self) -> Callable[[], bool]:
        # whether no other callback waits on the loop (asyncio keeps them in the private `_ready`,
        # made once with the loop; a loop without it counts as busy)
        ready = getattr(self.loop, "_ready", None)
        if ready is None:
            return lambda: False
        return lambda: not ready

    def _arm(self, at: float) -> None:
        if self._timer_at is not None and self._timer_at <= at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self.loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        self._pump()

    def kick(self) -> None:
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._scheduled = False
        if self.closed:
            return
        try:
            more, deadline = self._run()
        except lua54.LuaMemoryError:
            # the memory cap hit the scheduler itself: collect and carry on with a new runner
            log.warning("engine %s: memory limit reached in the scheduler", self.host)
            self._runner = None
            self.lua.gccollect()
            more, deadline = True, None
        except Exception:  # a bug in the core must not take the node down
            log.exception("engine %s: scheduler error", self.host)
            self._runner = None
            more, deadline = False, None
        if more:
            self.kick()
        elif deadline is not None:
            self._arm(deadline)

    def _run(self):
        # The scheduler runs inside a coroutine resumed from Python: Python code called back
        # from Lua may then call into this Lua state (lupa cannot do that from a Lua-resumed
        # coroutine, because the main thread is busy in coroutine.resume).
        if not self.wire:
            return self._resume()
        node = self.node
        outer, node.running = node.running, self
        try:
            result = self._resume()
            self.wire_pending = False   # the pass ended by sending them (wire.lua)
            return result
        finally:
            node.running = outer
            if self.wire_pending:
                self.flush_wire()

    def _resume(self):
        if self._runner is None:
            self._runner = self._runner_body.coroutine(self.S, RUN_BUDGET)
            self._unhook(self._runner)   # a new thread inherits the main thread's count hook
            return self._runner.send(None)
        return self._runner.send(RUN_BUDGET)

    # ------------------------------------------------------------------ compile
    def _compile(self, entry_id: str):
        try:
            self.compile(entry_id)
            return True
        except WippyError as e:
            return False, self.lua.table_from({"kind": e.kind, "message": e.message})

    def compile(self, entry_id: str) -> None:
        """Compile an entry's Lua into this engine's factory cache."""
        entry = self.node.get_entry(entry_id)
        if entry is None:
            raise WippyError(NOT_FOUND, f"entry {entry_id} not found")
        data = entry.data if isinstance(entry.data, dict) else {}
        source = data.get("source")
        if not isinstance(source, str):
            raise WippyError(INVALID, f"entry {entry_id} ({entry.kind}) has no Lua source")
        try:
            source = lang.compile(source, entry_id, preempt=True)
        except lang.LuaSyntaxError as e:
            raise WippyError(INVALID, f"{entry_id}: {e.message}") from None
        modules = self.lua.table_from(list(data.get("modules") or []))
        imports = self.lua.table_from(dict(data.get("imports") or {}))
        # a module.lua is imported like a library.lua
        kind = "library.lua" if entry.kind == "module.lua" else entry.kind
        fac, err = self.S.compile(entry_id, kind, source, data.get("method"), modules, imports,
                                  self.node.entry_version(entry_id))
        if fac is None:
            raise WippyError(INVALID, f"{entry_id}: {err}")
        pool = data.get("pool") or {}
        if isinstance(pool, dict):
            # idle instances kept for reuse: a static pool keeps its workers (size, else 8), an
            # inline one a single instance, lazy and adaptive ones up to max_size
            kind = pool.get("type") or ("static" if pool.get("workers") else "lazy")
            if kind == "static":
                fac.pool_max = int(pool.get("workers") or pool.get("size") or 8)
            elif kind == "inline":
                fac.pool_max = 1
            elif pool.get("max_size"):
                fac.pool_max = int(pool["max_size"])
        self.S.install(fac)

    def reconfigure(self, *, slice_timeout: float, max_instructions: int, max_memory: int | None,
                    max_processes: int, max_mailbox: int = Limits.max_mailbox,
                    max_timers: int = Limits.max_timers, busy_timeout: float = Limits.busy_timeout,
                    max_convert_tables: int = Limits.max_convert_tables,
                    max_convert_values: int = Limits.max_convert_values,
                    max_html_bytes: int = Limits.max_html_bytes,
                    max_schema_steps: int = Limits.max_schema_steps) -> None:
        """Live change of a host's limits: they apply to the next slice, spawn, send, timer,
        allocation and module call. (A coroutine created while a host had no time limits keeps
        running without the count hook.)"""
        self.set_work_limits(max_convert_tables=max_convert_tables, max_convert_values=max_convert_values,
                             max_html_bytes=max_html_bytes, max_schema_steps=max_schema_steps)
        self.S.slice_timeout = slice_timeout
        self.S.max_instructions = max_instructions
        self.S.max_processes = max_processes
        self.S.max_mailbox = max_mailbox
        self.S.max_timers = max_timers
        self.S.busy_timeout = busy_timeout
        self.set_memory_limit(max_memory or 0)

    def set_work_limits(self, *, max_convert_tables: int, max_convert_values: int, max_html_bytes: int,
                        max_schema_steps: int) -> None:
        """What one module call may do on this host (read by the modules at each call)."""
        self.max_convert_tables = max_convert_tables
        self.max_convert_values = max_convert_values
        self.max_html_bytes = max_html_bytes
        self.max_schema_steps = max_schema_steps

    def memory_limit(self) -> int:
        """The host's Lua memory limit in bytes (0 = none)."""
        return int(self.S.max_memory)

    def set_memory_limit(self, limit: int) -> None:
        """Processes are ended once the heap passes `limit`; the allocator's hard cap stays a
        reserve above it, and above what is in use now, so lowering it never fails an allocation
        of the runtime itself."""
        self.S.max_memory = limit
        if not limit:
            self.lua.set_max_memory(0)
            return
        self.lua.set_max_memory(max(memory_cap(limit), self.memory_used() + 32 * 1024 * 1024))

    def invalidate(self, entry_id: str) -> None:
        self.S.invalidate(entry_id)

    # ------------------------------------------------------------------ values
    def py(self, value: Any) -> Any:
        return to_python(self, value)

    def to_lua(self, value: Any) -> Any:
        return to_lua(self, value)

    def classify(self, value: Any) -> str | None:
        return self._classify(value)

    def keep(self, value: Any) -> Any:
        """The same Lua value, for Python to keep past the module call that received it. lupa
        ties a value to the lua_State of the coroutine that handed it over, and releases (and
        reads) it through that state, which Lua frees once that process has ended: a value
        returned from a call made here is tied to the host's main state instead, which lives
        as long as the engine."""
        return self._same(value)

    def new_error(self, err: WippyError):
        e = self.S.new_error(err.kind, err.message, err.retryable, to_lua(self, err.details))
        return e

    def error_to_python(self, e) -> WippyError:
        # fields read raw and made plain in Lua: no metamethod of a replaced field runs here
        kind, message, retryable, details, stack = self.S.error_fields(e)
        return WippyError(kind, message, retryable, to_python(self, details) if details is not None else stack)

    def lua_error(self, kind: str, message: str):
        return self.S.new_error(kind, message)

    def args_table(self, args: list | tuple):
        t = self.lua.table()
        for i, v in enumerate(args, 1):
            t[i] = to_lua(self, v)
        t.n = len(args)
        return t

    # ------------------------------------------------------------------ python awaits
    def wrap(self, fn: Callable) -> Any:
        """Expose a Python callable to Lua; coroutine functions park the calling task."""
        if inspect.iscoroutinefunction(fn):
            return self._wrap_async(fn)

        def call(*args):
            try:
                return fn(*args)
            except WippyError as e:
                return None, self.new_error(e)
            except BaseException as e:
                del args            # this frame stays in the traceback: see _detach
                _detach(e)
                raise
        return self._wrap_py(call)

    def _start_async(self, fn, *args):
        coro = None
        try:
            coro = fn(*args)
            return self._track(self.loop.create_task(_detached(coro)))
        except WippyError as e:
            return None, self.new_error(e)
        except BaseException as e:
            # (a loop that takes no new task: a closing one, a Temporal workflow's tearing down)
            # lupa keeps this error until the next one: neither this frame nor the call that never
            # started may keep the caller's arguments (see _detach)
            if coro is not None:
                coro.close()
            del args, coro
            _detach(e)
            raise

    def _track(self, task: asyncio.Future) -> int:
        """A token the calling Lua task awaits (S.await_token) until `task` is done."""
        token = next(self._tokens)
        self._pending[token] = task
        task.add_done_callback(lambda t: self._finish_async(token, t))
        return token

    def _finish_async(self, token: int, task: asyncio.Future) -> None:
        self._pending.pop(token, None)
        if self.closed:
            return
        if task.cancelled():   # its task was killed: Lua may now free the coroutine it kept
            self.S.complete(token)
            return
        exc = task.exception()
        if exc is None:
            result = task.result()
            too_big = self._oversized(result)
            if too_big:
                result = (None, WippyError("LimitExceeded", too_big, False))
            if isinstance(result, tuple):
                vals = [to_lua(self, v) for v in result]
            else:
                vals = [to_lua(self, result)]
        elif isinstance(exc, WippyError):
            vals = [None, self.new_error(exc)]
        else:
            log.error("engine %s: async call failed", self.host, exc_info=exc)
            vals = [None, self.new_error(WippyError(INTERNAL, f"{type(exc).__name__}: {exc}"))]
        if self.S.complete(token, *vals[:3]):
            self.kick()

    def _oversized(self, result: Any) -> str | None:
        """Why a result would not fit the host's Lua memory, or None. A string enters Lua in one
        allocation, outside any task's protection: one past the allocator's cap (a decompressed
        bomb with a large max_size) would abort the node, so it becomes the caller's error."""
        values = result if isinstance(result, tuple) else (result,)
        size = sum(len(v) for v in values if isinstance(v, (str, bytes, bytearray)))
        if size < 1024 * 1024:      # well inside the allocator's reserve (memory_cap)
            return None
        limit = self.memory_limit()
        if limit and self.memory_used() + size > limit:
            return (f"a result of {size} bytes does not fit the memory limit of host {self.host} "
                    f"(max_memory: {limit} bytes)")
        return None

    def _cancel_token(self, token: int) -> None:
        task = self._pending.pop(token, None)
        if task is not None:
            task.cancel()

    # ------------------------------------------------------------------ remote ops
    def _register_name(self, name, pid, scope=0):
        try:
            if scope and self.node.cluster is not None:   # a cluster scope: the caller awaits the token
                return self._start_async(self.node.cluster.register_name, name, pid, int(scope))
            self.node.register_name(name, pid)
            return True
        except WippyError as e:
            return None, self.new_error(e)

    def _unregister_name(self, name, scope=0, caller=None):
        if scope and self.node.cluster is not None:
            return self._start_async(self.node.cluster.unregister_name, name, int(scope), caller)
        return self.node.unregister_name(name)

    def _spawn_remote(self, entry_id, host, sp, caller, monitored, linked, args):
        try:
            opts = self.py(sp) if sp is not None else {}
            pid = self.node.spawn(entry_id, host, self.py_args(args), caller=caller,
                                  monitored=bool(monitored), linked=bool(linked), options=opts)
        except WippyError as e:
            return None, self.new_error(e)
        if inspect.isawaitable(pid):   # a host on another node: the caller awaits the token
            return self._track(asyncio.ensure_future(pid, loop=self.loop))
        return pid

    def _exec_remote(self, entry_id, host, sp, args):
        try:
            opts = self.py(sp) if sp is not None else {}
            coro = self.node.exec(entry_id, host, self.py_args(args), options=opts)
        except WippyError as e:
            return self.new_error(e)
        return self._track(self.loop.create_task(_detached(coro)))

    def _link_remote(self, pid, other, on):
        try:
            return self.node.link(pid, other, bool(on))
        except WippyError as e:
            return None, self.new_error(e)

    def py_args(self, args) -> list:
        n = args.n if args.n is not None else len(args)
        return [to_python(self, args[i]) for i in range(1, n + 1)]

    # ------------------------------------------------------------------ entry points from Python
    def spawn(self, entry_id: str, args: list, *, watcher: str | None = None, monitored: bool = False,
              linked: bool = False, name: str | None = None, ctx: dict | None = None,
              actor: dict | None = None, scope: list[str] | None = None) -> str:
        pid, err = self.S.spawn_local(entry_id, self.args_table(args),
                                      to_lua(self, ctx) if ctx else None, watcher, monitored, linked,
                                      name, to_lua(self, actor), to_lua(self, scope))
        if pid is None:
            raise self.error_to_python(err)
        self.kick()
        return pid

    def deliver(self, pid: str, topic: str, frm: str | None, value: Any) -> bool:
        proc = self.S.procs[pid]
        if proc is None:
            return False
        res = self.S.deliver(proc, topic, frm, to_lua(self, value))
        if res is not True:   # a full mailbox: the message is dropped (fire-and-forget)
            log.warning("engine %s: %s", self.host, self.error_to_python(res[1]))
            return False
        self.kick()
        return True

    def deliver_batch(self, flat: list) -> None:
        """Messages from another node, flat [pid, topic, from, value, ...] in arrival order (each
        value plain data, or a Lua value already): one conversion and one call into Lua for all of
        them, one wake-up of the scheduler."""
        try:
            full, err = self.S.deliver_batch(self.lua.table_from(flat, recursive=True), len(flat))
        except lua54.LuaMemoryError:
            log.warning("engine %s: memory limit reached: %d messages from another node dropped",
                        self.host, len(flat) // 4)
            return
        if full:
            log.warning("engine %s: %d messages dropped, the first: %s", self.host, full,
                        self.error_to_python(err))
        self.kick()

    def deliver_wire(self, data: bytes) -> None:
        """Messages another node's engine encoded (wire.lua): decoded and delivered in Lua at the
        scheduler's next pass."""
        self.S.deliver_wire(data)
        self.kick()

    def deliver_event(self, pid: str, event: dict) -> bool:
        proc = self.S.procs[pid]
        if proc is None:
            return False
        if event.get("kind") == "pid.link.down":   # from another host or node: trapped, or fatal
            err = (event.get("result") or {}).get("error")
            self.S.link_down(proc, event.get("from"), to_lua(self, err if err is not None else
                                                              WippyError(INTERNAL, "linked process failed")))
        else:
            self.S.deliver_event(pid, to_lua(self, event))
        self.kick()
        return True

    def has_process(self, pid: str) -> bool:
        return self.S.procs[pid] is not None

    def call(self, entry_id: str, args: list, ctx: dict | None = None, *, actor: dict | None = None,
             scope: list[str] | None = None) -> asyncio.Future:
        """Call a function entry from Python (under an actor and scope, when given: {id, meta} and
        policy ids); the future resolves to its value or raises."""
        token = next(self._tokens)
        fut = self.loop.create_future()
        self._calls[token] = fut
        lua_actor = self.S.make_actor(to_lua(self, actor)) if actor is not None else None
        lua_scope = self.S.make_scope(to_lua(self, scope)) if scope is not None else None
        self.S.call_from_python(entry_id, self.args_table(args), to_lua(self, ctx) if ctx else None, token,
                                lua_actor, lua_scope)
        self.kick()
        return fut

    def _call_done(self, token, value=None, err=None):
        fut = self._calls.pop(token, None)
        if fut is None or fut.done():
            return
        if err is not None:
            fut.set_exception(self.error_to_python(err))
        else:
            try:
                fut.set_result(to_python(self, value))
            except Exception as e:
                fut.set_exception(WippyError(INTERNAL, f"result not convertible: {e}"))

    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool:
        ok = bool(self.S.cancel(pid, frm, reason))
        self.kick()
        return ok

    def terminate(self, pid: str, reason: str = "terminated") -> bool:
        ok = bool(self.S.terminate(pid, reason))
        self.kick()
        return ok

    def add_monitor(self, pid: str, watcher: str) -> bool:
        return bool(self.S.add_monitor(pid, watcher))

    def remove_monitor(self, pid: str, watcher: str) -> None:
        self.S.remove_monitor(pid, watcher)

    def add_link(self, pid: str, other: str) -> bool:
        return bool(self.S.add_link(pid, other))

    def remove_link(self, pid: str, other: str) -> None:
        self.S.remove_link(pid, other)

    def process_count(self) -> int:
        return int(self.S.stats.spawned - self.S.stats.exited)

    def memory_used(self) -> int:
        return self.lua.get_memory_used() or 0

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        for task in self._pending.values():
            task.cancel()
        for fut in self._calls.values():
            if not fut.done():
                fut.set_exception(WippyError("Canceled", f"host {self.host} stopped"))


def _format_duration_ns(ns: int) -> str:
    from ..durations import format_duration
    return format_duration(ns / 1e9)
