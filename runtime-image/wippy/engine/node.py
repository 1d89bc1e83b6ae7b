"""A node: the engines (one per host) of one runtime, the LOCAL name registry, and the
routing of messages, signals and exit events between engines and Python watchers."""
from __future__ import annotations

import asyncio
import itertools
import time
from typing import TYPE_CHECKING, Any, Callable, Protocol

from .errors import WippyError, ALREADY_EXISTS, NOT_FOUND, INVALID

if TYPE_CHECKING:
    from ..data.env import NodeEnv
    from ..registry.registry import Registry
    from ..supervisor.supervisor import Supervisor

CONTROL_HOST = "wippy:control"


def host_of(pid: str) -> str | None:
    """`{node@host|uniq}` (or `{host|x|uniq}`) -> host."""
    if type(pid) is not str or pid[:1] != "{" or pid[-1:] != "}":
        return None
    body = pid[1:-1]
    first = body.find("|")
    if first < 0:
        return None
    second = body.find("|", first + 1)
    if second >= 0:
        return body[:first] if body.find("|", second + 1) < 0 else None
    at = body.find("@", 0, first)
    return body[at + 1:first] if at >= 0 else body[:first]


def node_of(pid: str) -> str | None:
    """`{node@host|uniq}` -> node (None when the pid names none). On every remote message: kept cheap."""
    if type(pid) is not str or pid[:1] != "{":
        return None
    at = pid.find("@")
    if at < 0:
        return None
    bar = pid.find("|")
    return pid[1:at] if bar < 0 or at < bar else None


class Host(Protocol):
    """What the node needs from a host (a Lua engine, or a Temporal worker later)."""

    def spawn(self, entry_id: str, args: list, *, watcher: str | None = None, monitored: bool = False,
              linked: bool = False, name: str | None = None, ctx: dict | None = None,
              actor: dict | None = None, scope: list[str] | None = None) -> str: ...
    def deliver(self, pid: str, topic: str, frm: str | None, value: Any) -> bool: ...
    def deliver_event(self, pid: str, event: dict) -> bool: ...
    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool: ...
    def terminate(self, pid: str, reason: str = ...) -> bool: ...


class Node:
    # Attached by the Runtime that owns the node; a bare engine node has none (read with getattr).
    registry: Registry
    env: NodeEnv
    supervisor: Supervisor

    def __init__(self, name: str = "local", entries: Callable[[str], Any] | None = None):
        self.name = name
        self.hosts: dict[str, Any] = {}
        self.names: dict[str, str] = {}
        self._names_of: dict[str, set[str]] = {}
        self._watchers: dict[str, Callable[[dict], None]] = {}
        self._control_seq = itertools.count(1)
        self._frames = itertools.count(1)
        self._entries = entries or (lambda _id: None)
        self._versions: dict[str, int] = {}
        self.cluster: Any = None     # cluster/cluster.py when this node is one of many
        self._local = "{" + name + "@"
        self.pg: Any = None          # cluster/pg.py once a process opens a pg.scope
        self.running: Any = None     # the engine in a scheduler pass (engine.py)
        self.eval_cache: Any = None  # the app's .wippy.yaml lua.eval (app_config.py), read by eval_runner

    def remote(self, pid: str):
        """The cluster, when `pid` lives on another node (else None: it is local or unknown)."""
        c = self.cluster
        if c is None or pid.startswith(self._local):
            return None
        n = node_of(pid)
        return c if n is not None and n != self.name and not self.routes_itself(pid) else None

    def routes_itself(self, pid: str) -> bool:
        """Whether `pid` belongs to a host of this node whose pids name no node (a Temporal worker:
        `{client@worker|wid}` names its client, and Temporal reaches the workflow from any pod)."""
        h = host_of(pid)
        return h is not None and getattr(self.hosts.get(h), "global_pids", False)

    # ------------------------------------------------------------------ hosts
    def add_host(self, host_id: str, host: Any) -> None:
        self.hosts[host_id] = host

    def remove_host(self, host_id: str) -> Any:
        return self.hosts.pop(host_id, None)

    def _host(self, host_id: str):
        h = self.hosts.get(host_id)
        if h is None:
            raise WippyError(NOT_FOUND, f"host {host_id} not found")
        return h

    def host_for(self, pid: str):
        h = host_of(pid)
        return self.hosts.get(h) if h else None

    # ------------------------------------------------------------------ entries
    def get_entry(self, entry_id: str):
        return self._entries(entry_id)

    def entry_version(self, entry_id: str) -> int:
        return self._versions.get(entry_id, 0)

    def entry_changed(self, entry_id: str) -> None:
        """Drop compiled code of an entry everywhere; the next use compiles the new version."""
        self._versions[entry_id] = self._versions.get(entry_id, 0) + 1
        for h in self.hosts.values():
            inv = getattr(h, "invalidate", None)
            if inv:
                inv(entry_id)

    # ------------------------------------------------------------------ python watchers
    def control_pid(self, on_event: Callable[[dict], None]) -> str:
        """A pid owned by Python code (supervisors, exec): events sent to it call on_event."""
        pid = f"{{{self.name}@{CONTROL_HOST}|0x{next(self._control_seq):05x}}}"
        self._watchers[pid] = on_event
        return pid

    def release_control(self, pid: str) -> None:
        self._watchers.pop(pid, None)

    # ------------------------------------------------------------------ routing
    def route_event(self, pid: str, event: dict) -> None:
        c = self.remote(pid)
        if c is not None:
            c.route_event(pid, event)
            return
        cb = self._watchers.get(pid)
        if cb is not None:
            cb(event)
            return
        h = self.host_for(pid)
        if h is not None:
            h.deliver_event(pid, event)

    def send(self, pid: str, topic: str, frm: str | None, value: Any) -> bool:
        c = self.cluster
        if c is not None and not pid.startswith(self._local):
            n = node_of(pid)
            if n is not None and n != self.name and not self.routes_itself(pid):
                return c.send(pid, topic, frm, value, n)
        h = self.host_for(pid)
        if h is not None:
            h.deliver(pid, topic, frm, value)
        return True  # fire-and-forget: a dead destination drops the message

    def send_wire(self, node: str, host: str, data: bytes) -> None:
        """Messages an engine encoded for processes on `host` of another node (engine/lua/wire.lua);
        dropped when this node is in no cluster, as a message to a pid that is gone."""
        if self.cluster is not None:
            self.cluster.send_wire(node, host, data)

    def send_to(self, dest: str, topic: str, value: Any, frm: str | None = None) -> bool:
        pid = dest if dest.startswith("{") else self.lookup_name(dest)
        if pid is None:
            raise WippyError(NOT_FOUND, f"no process registered as '{dest}'")
        return self.send(pid, topic, frm, value)

    def spawn(self, entry_id: str, host_id: str, args: list, *, caller: str | None = None,
              monitored: bool = False, linked: bool = False, options: dict | None = None,
              name: str | None = None) -> Any:
        """A pid; for a host of another node (`node@host`), an awaitable of the pid."""
        options = options or {}
        if "@" in host_id:
            target, _, host_id = host_id.partition("@")
            if target != self.name:
                if self.cluster is None:
                    raise WippyError(NOT_FOUND, f"node {target} not found: this node is not in a cluster")
                return self.cluster.spawn(target, entry_id, host_id, args, caller=caller, monitored=monitored,
                                          linked=linked, options=options, name=name)
        name = name or options.get("name")
        if name:
            existing = self.lookup_name(name)
            if existing:
                return existing
        h = self._host(host_id)
        if hasattr(h, "spawn_with_options"):  # temporal.worker: start options, signal-with-start
            return h.spawn_with_options(entry_id, args, caller=caller, monitored=monitored, linked=linked,
                                        name=name, options=options)
        identity = {k: options[k] for k in ("actor", "scope") if options.get(k) is not None}
        pid = h.spawn(entry_id, args, watcher=caller, monitored=monitored, linked=linked,
                      name=name, ctx=options.get("ctx"), **identity)
        if linked and caller:
            ch = self.host_for(caller)
            if ch is not None and hasattr(ch, "add_link"):
                ch.add_link(caller, pid)
        for m in options.get("messages") or []:
            self.send(pid, m["topic"], caller, m.get("payload"))
        return pid

    async def exec(self, entry_id: str, host_id: str, args: list, options: dict | None = None) -> Any:
        if "@" in host_id:
            target, _, host_id = host_id.partition("@")
            if target != self.name:
                if self.cluster is None:
                    raise WippyError(NOT_FOUND, f"node {target} not found: this node is not in a cluster")
                return await self.cluster.exec(target, entry_id, host_id, args, options)
        loop = asyncio.get_running_loop()
        done: asyncio.Future = loop.create_future()

        def on_event(ev: dict) -> None:
            if ev.get("kind") == "pid.exit" and not done.done():
                done.set_result(ev.get("result") or {})

        cpid = self.control_pid(on_event)
        try:
            pid = self.spawn(entry_id, host_id, args, caller=cpid, monitored=True, options=options)
            try:
                result = await done
            except asyncio.CancelledError:
                self.terminate(pid)
                raise
        finally:
            self.release_control(cpid)
        err = result.get("error")
        if err:
            raise err if isinstance(err, WippyError) else WippyError("", str(err))
        return result.get("value")

    def cancel(self, pid: str, frm: str | None, reason: str | None) -> bool:
        c = self.remote(pid)
        if c is not None:
            return c.cancel(pid, frm, reason)
        h = self.host_for(pid)
        return bool(h and h.cancel(pid, frm, reason))

    def terminate(self, pid: str, reason: str = "terminated") -> bool:
        c = self.remote(pid)
        if c is not None:
            return c.terminate(pid, reason)
        h = self.host_for(pid)
        return bool(h and h.terminate(pid, reason))

    def monitor(self, pid: str, watcher: str, on: bool) -> bool:
        c = self.remote(pid)
        if c is not None:
            return c.monitor(pid, watcher, on)
        h = self.host_for(pid)
        if h is None or not hasattr(h, "add_monitor"):
            if on:  # monitoring a process that is gone reports its exit at once
                self.route_event(watcher, {"kind": "pid.exit", "type": "pid.exit", "from": pid,
                                           "result": {"error": WippyError(NOT_FOUND, "no such process")}})
            return True
        if on:
            if not h.add_monitor(pid, watcher):
                self.route_event(watcher, {"kind": "pid.exit", "type": "pid.exit", "from": pid,
                                           "result": {"error": WippyError(NOT_FOUND, "no such process")}})
        else:
            h.remove_monitor(pid, watcher)
        return True

    def link(self, pid: str, other: str, on: bool) -> bool:
        c = self.remote(pid)
        if c is not None:
            return c.link(pid, other, on)
        h = self.host_for(pid)
        if h is None or not hasattr(h, "add_link"):
            if on:
                raise WippyError(NOT_FOUND, f"no such process {pid}")
            return True
        if on:
            if not h.add_link(pid, other):
                raise WippyError(NOT_FOUND, f"no such process {pid}")
        else:
            h.remove_link(pid, other)
        return True

    def unlink(self, pid: str, other: str) -> None:
        c = self.remote(pid)
        if c is not None:
            c.link(pid, other, False)
            return
        h = self.host_for(pid)
        if h is not None and hasattr(h, "remove_link"):
            h.remove_link(pid, other)

    def on_exit(self, pid: str) -> None:
        """A process that held names ended: its names are free again."""
        for name in self._names_of.pop(pid, ()):
            if self.names.get(name) == pid:
                del self.names[name]
        if self.cluster is not None:
            self.cluster.on_exit(pid)
        if self.pg is not None:
            self.pg.on_exit(pid)

    # ------------------------------------------------------------------ names (LOCAL scope)
    def register_name(self, name: str, pid: str) -> None:
        if not isinstance(name, str) or not name:
            raise WippyError(INVALID, "name must be a non-empty string")
        cur = self.names.get(name)
        if cur is not None and cur != pid:
            raise WippyError(ALREADY_EXISTS, f"name '{name}' is already registered to {cur}")
        self.names[name] = pid
        self._names_of.setdefault(pid, set()).add(name)

    def lookup_name(self, name: str) -> str | None:
        # cluster-wide names shadow local ones (Consistent/Strong, then Eventual, then Local)
        if self.cluster is not None:
            pid = self.cluster.lookup_name(name)
            if pid is not None:
                return pid
        return self.names.get(name)

    def unregister_name(self, name: str) -> bool:
        pid = self.names.pop(name, None)
        if pid is None:
            return False
        self._names_of.get(pid, set()).discard(name)
        return True

    # ------------------------------------------------------------------ misc
    def frame_id(self) -> str:
        return f"{self.name}:{next(self._frames):x}"

    @staticmethod
    def wall_ns() -> int:
        return time.time_ns()
