"""Python side of the `system` module: runtime information about this node, its hosts,
services and memory, the cluster (cluster/), and locks. Without a cluster the node reports
itself as the only member, Raft calls answer "raft not available" and locks are node-local."""
from __future__ import annotations

import asyncio
import gc
import os
import socket
import sys
import time
import weakref

from ..engine.errors import ALREADY_EXISTS, INTERNAL, INVALID, WippyError
from . import offload

LOCK_PREFIX = "system.lock:"
_service_times: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
MAX_PROCS = 1024    # Go's own ceiling for GOMAXPROCS


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _track(supervisor) -> dict:
    """Start and change times of services (the supervisor keeps states, not times)."""
    times = _service_times.get(supervisor)
    if times is None:
        times = _service_times[supervisor] = {}

        def on_state(sid, state):
            now = time.time_ns()
            t = times.setdefault(sid, {})
            t["last_update"] = now
            if state.value == "running":
                t["started_at"] = now
        supervisor.on_state(on_state)
    return times


def install(engine):
    node = engine.node
    gc_percent = [100]
    supervisor = getattr(node, "supervisor", None)
    if supervisor is not None:
        _track(supervisor)

    def lua_heaps() -> int:
        # collectgarbage("count") works with or without a memory cap (lupa counts only with one)
        return sum(int(h.lua.execute("return collectgarbage('count')") * 1024)
                   for h in node.hosts.values() if getattr(h, "lua", None) is not None)

    def memory_stats():
        lua = lua_heaps()
        rss = _rss()
        counts = gc.get_stats()
        return engine.to_lua({
            "alloc": lua, "total_alloc": lua, "sys": rss, "heap_alloc": lua, "heap_sys": rss,
            "heap_idle": max(0, rss - lua), "heap_in_use": lua, "heap_released": 0,
            "heap_objects": sys.getallocatedblocks(), "stack_in_use": 0, "stack_sys": 0,
            "mspan_in_use": 0, "mspan_sys": 0,
            "num_gc": sum(s.get("collections", 0) for s in counts),
            "next_gc": 0,
        })

    def get_limit():
        return engine.memory_limit() or -1

    def set_limit(limit):
        if not isinstance(limit, int) or isinstance(limit, bool) or (limit < 0 and limit != -1):
            raise WippyError(INVALID, "limit must be a number of bytes, or -1 for unlimited")
        prev = get_limit()
        engine.set_memory_limit(0 if limit == -1 else max(limit, engine.memory_used() + 1))
        return prev

    def gc_collect():
        engine.lua.gccollect()
        gc.collect()
        return True

    def set_percent(pct):
        if not isinstance(pct, int) or isinstance(pct, bool) or pct < 0:
            raise WippyError(INVALID, "percent must be a non-negative integer")
        prev = gc_percent[0]
        gc_percent[0] = pct
        # Lua's pause: a new cycle starts when memory reaches pause% of what the last one kept
        engine.lua.execute("collectgarbage('incremental', ...)", pct + 100)
        return prev

    def set_max_procs(n):
        if not isinstance(n, int) or isinstance(n, bool) or not 0 < n <= MAX_PROCS:
            raise WippyError(INVALID, f"max_procs must be an integer from 1 to {MAX_PROCS}")
        return offload.set_workers(n)

    def hosts_list():
        out = []
        for hid, h in node.hosts.items():
            S = getattr(h, "S", None)
            out.append({"id": hid, "workers": 1,
                        "processes": h.process_count() if hasattr(h, "process_count") else 0,
                        "executed": int(S.steps()) if S is not None else 0, "stolen": 0,
                        "queue_depth": 0})
        return engine.to_lua(out)

    def host_processes(host_id):
        if not isinstance(host_id, str) or not host_id:
            raise WippyError(INVALID, "host id is required")
        h = node.hosts.get(host_id)
        if h is None or getattr(h, "S", None) is None:
            raise WippyError(INVALID, f"host {host_id} not found")
        out = []
        wall, mono = time.time_ns(), engine.loop.time()   # born is on the loop clock (P.monotonic)
        for pid, proc in h.S.procs.items():
            # steps: the process's coroutine resumes (its own and its tasks'); started_at: wall ns
            item = {"pid": pid, "host": host_id, "source": proc.entry or "", "state": "running",
                    "steps": int(proc.steps or 0), "started_at": wall - int((mono - (proc.born or mono)) * 1e9)}
            if proc.parent is not None:
                item["parent"] = proc.parent
            actor = proc.actor
            if actor is not None and actor.id is not None:
                item["actor_id"] = str(actor.id)
            out.append(item)
        return engine.to_lua(out)

    def service_state(sid, svc):
        times = _track(supervisor).get(sid, {})
        desired = "stopped" if svc.stopping or svc.state.value in ("stopped", "stopping") else "running"
        item = {"id": sid, "status": svc.state.value, "desired": desired, "retry_count": svc.restarts,
                "last_update": times.get("last_update", 0), "started_at": times.get("started_at", 0)}
        if svc.last_error:
            item["details"] = str(svc.last_error)
        return item

    def supervisor_state(sid):
        if not isinstance(sid, str) or not sid:
            raise WippyError(INVALID, "service id is required")
        if supervisor is None:
            raise WippyError(INTERNAL, "service info unavailable")
        svc = supervisor.services.get(sid)
        if svc is None:
            raise WippyError(INVALID, f"service {sid} not found")
        return engine.to_lua(service_state(sid, svc))

    def supervisor_states():
        if supervisor is None:
            raise WippyError(INTERNAL, "service info unavailable")
        return engine.to_lua([service_state(sid, svc) for sid, svc in supervisor.services.items()])

    def request_exit(code):
        hook = getattr(node, "request_exit", None)
        if hook is None:
            raise WippyError(INTERNAL, "shutdown is not available: this runtime was not started by `wippy run`")
        asyncio.get_running_loop().call_soon(hook, int(code))
        return True

    def cluster_of():
        return getattr(node, "cluster", None)

    def node_addr():
        c = cluster_of()
        if c is None:
            return None, engine.new_error(WippyError(INTERNAL, "membership unavailable: this node runs without clustering"))
        return c.mesh.addr

    def node_role():
        c = cluster_of()
        if c is None or c.leader is None:
            return "non-member"
        return c.leader.role()

    def cluster_members():
        c = cluster_of()
        return engine.to_lua(c.member_list() if c is not None else [{"id": node.name, "is_local": True}])

    def cluster_leader():
        c = cluster_of()
        return (c.leader.holder_node() or "") if c is not None and c.leader is not None else ""

    def cluster_size():
        c = cluster_of()
        return len(c.member_list()) if c is not None else 1

    def raft(field):
        c = cluster_of()
        if c is None or c.leader is None:
            return None, engine.new_error(WippyError(INTERNAL, "raft not available"))
        return engine.to_lua(c.leader.raft(field))

    async def lock_acquire(name, pid):
        c = cluster_of()
        if c is not None and c.names is not None:
            try:
                await c.names.lock_acquire(name, pid)
            except WippyError as e:
                if e.kind == ALREADY_EXISTS:
                    return False, e
                raise
            return True
        return local_lock_acquire(name, pid)

    async def lock_release(name, pid):
        c = cluster_of()
        if c is not None and c.names is not None:
            return await c.names.lock_release(name, pid)
        return local_lock_release(name, pid)

    def local_lock_acquire(name, pid):
        try:
            if node.lookup_name(LOCK_PREFIX + name) == pid:
                raise WippyError(ALREADY_EXISTS, f"lock {name} is already held by this process")
            node.register_name(LOCK_PREFIX + name, pid)
        except WippyError as e:
            if e.kind == ALREADY_EXISTS:
                return False, engine.new_error(WippyError(ALREADY_EXISTS, f"lock {name} is already held"))
            raise
        return True

    def local_lock_release(name, pid):
        if node.lookup_name(LOCK_PREFIX + name) != pid:
            return False
        return node.unregister_name(LOCK_PREFIX + name)

    def modules():
        from . import SPECS, INTERNAL as HIDDEN
        return engine.to_lua([{"name": s.name, "description": DESCRIPTIONS.get(s.name, ""),
                               "class": sorted(s.classes)}
                              for s in SPECS if s.name not in HIDDEN])

    return {
        "memory_stats": memory_stats, "allocated": lua_heaps, "heap_objects": sys.getallocatedblocks,
        "get_limit": get_limit, "set_limit": set_limit, "gc_collect": gc_collect,
        "set_percent": set_percent, "get_percent": lambda: gc_percent[0],
        "goroutines": lambda: len(asyncio.all_tasks()), "cpu_count": lambda: os.cpu_count() or 1,
        "max_procs": offload.workers, "set_max_procs": set_max_procs,
        "pid": os.getpid, "hostname": socket.gethostname, "cwd": os.getcwd,
        "hosts_list": hosts_list, "host_processes": host_processes,
        "supervisor_state": supervisor_state, "supervisor_states": supervisor_states,
        "exit": request_exit, "lock_acquire": lock_acquire, "lock_release": lock_release,
        "node_id": lambda: node.name, "modules": modules, "node_addr": node_addr, "node_role": node_role,
        "cluster_members": cluster_members, "cluster_leader": cluster_leader, "cluster_size": cluster_size,
        "raft": raft,
    }


DESCRIPTIONS = {
    "errors": "Structured errors", "channel": "Go-style channels", "payload": "Typed payloads",
    "process": "Processes: spawn, message, monitor, link", "time": "Time, durations, timers",
    "funcs": "Calling function entries", "ctx": "Context values", "json": "JSON encoding",
    "yaml": "YAML encoding", "base64": "Base64 encoding", "hash": "Hashes and HMACs",
    "expr": "Expression language", "html": "HTML sanitization", "uuid": "UUIDs",
    "logger": "Structured logging", "env": "Environment variables", "registry": "Registry access",
    "http": "HTTP request and response", "http_client": "HTTP client", "metrics": "Metrics",
    "sql": "SQL databases", "store": "Key-value stores", "queue": "Message queues",
    "events": "Event bus", "fs": "Filesystems", "security": "Actors, scopes, policies",
    "io": "Terminal I/O", "workflow": "Workflows", "system": "Runtime information",
    "templates": "Jet templates", "exec": "Running granted OS commands",
    "websocket": "WebSocket client", "contract": "Typed service contracts",
    "excel": "Excel workbooks", "eval_runner": "Running Lua source in a sandbox",
    "archive": "Zip and tar archives",
}
