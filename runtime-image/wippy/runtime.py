"""A runtime: the registry, the node with its engines, the supervisor, and the sources that
feed the registry (an app folder here; Kubernetes custom resources in a pod)."""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
from pathlib import Path
from typing import Any, Sequence

from .data.env import NodeEnv
from .engine.node import Node
from .kinds import HANDLERS, LUA_CODE_KINDS
from .kinds.handlers.process_service import apply_committed, service_spec
from .kinds.models.catalog import EntryInvalid, entry_references, validate_entry
from . import app_config, redaction
from .loader.interpolate import InterpolationError, resolve_entry_data
from .registry import Entry, MemoryHistory, Op, Registry, SqliteHistory, order
from .registry.history import History
from .supervisor.supervisor import Supervisor
from .testing.builtin import builtin_entry

log = logging.getLogger("wippy.runtime")

DATA_DIR = ".wippy"
FUNCTIONS_HOST = "wippy:functions"   # where calls that start in Python (HTTP, CLI) run


def default_node_name() -> str:
    return os.environ.get("WIPPY_NODE_ID") or socket.gethostname() or "local"


class Runtime:
    def __init__(self, app_dir: str | Path | None = None, *, node_name: str | None = None,
                 persist_history: bool = True, overrides: Sequence[Any] = (), source: Any = None):
        """``source`` feeds the registry (``start(registry)``/``stop()``); without one, the
        app folder does (FileSource)."""
        self.app_dir = Path(app_dir).resolve() if app_dir else None
        self.node_name = node_name or default_node_name()
        redaction.install()   # no log record of the node shows a resolved ${env:...} value
        self.overrides = list(overrides)
        if persist_history and self.app_dir is not None:
            data = self.app_dir / DATA_DIR
            data.mkdir(exist_ok=True)
            self.history: History = SqliteHistory(data / "registry.db")
        else:
            self.history = MemoryHistory()
        self.registry = Registry(self.history, validate=self.decode, references=entry_references)
        self.node = Node(self.node_name, entries=self.entry)
        self.node.eval_cache = app_config.load(self.app_dir).eval_cache   # read by eval_runner
        self.node.registry = self.registry
        self.node.env = NodeEnv(self.node)
        self.supervisor = Supervisor(self.node)
        self.node.supervisor = self.supervisor    # read by the `system` module
        self.source = source
        self.cluster: Any = None      # cluster/kube.py when this runtime is one pod of many
        self.errors: list[str] = []
        for kind, make in HANDLERS.items():
            self.registry.add_handler(kind, make(self))
        self.registry.subscribe(self._after_commit)

    def entry(self, entry_id: str) -> Entry | None:
        """An entry of the registry, else a built-in one (the `wippy.test:test` library)."""
        return self.registry.get(entry_id) or builtin_entry(entry_id)

    def env_lookup(self, name: str) -> str | None:
        store = getattr(self.node, "env", None)
        return store.get(name) if store is not None else os.environ.get(name)

    def decode(self, entry: Entry):
        """An entry's typed model, with `${env:...}` placeholders resolved (Lua sources excepted:
        `${` is ordinary text in code). Secrets stay out of the registry: only the model sees them."""
        resolved: dict[str, str] = {}

        def lookup(name: str) -> str | None:
            value = self.env_lookup(name)
            if value:
                resolved[name] = value
                redaction.remember(name, value)
            return value
        try:
            data = resolve_entry_data(entry.data, lookup)
        except InterpolationError as e:
            raise EntryInvalid(entry, [str(e)]) from None
        try:
            return validate_entry(dataclasses.replace(entry, data=data))
        except EntryInvalid as e:
            if not resolved:
                raise
            # a problem with a resolved value must not print the value (it is often a secret)
            raise EntryInvalid(entry, [redaction.redact(p) for p in e.problems]) from None

    def report(self, message: str) -> None:
        message = redaction.redact(message)
        self.errors.append(message)
        log.error("%s", message)

    async def start(self) -> None:
        from .engine.engine import Engine
        self.node.add_host(FUNCTIONS_HOST, Engine(self.node, FUNCTIONS_HOST))
        if self.cluster is not None:
            await self.cluster.start()
        await self.registry.load()
        for err in self.registry.boot_errors:
            self.report(str(err))
        # entries restored from history come up like a committed change
        booted = order([Op.create(e) for e in self.registry.entries()], entry_references)
        await self._after_commit(self.registry.version, booted)
        if self.source is None and self.app_dir is not None:
            from .loader.file_source import FileSource
            self.source = FileSource(self.app_dir, on_error=self.report, overrides=self.overrides)
        if self.source is not None:
            await self.source.start(self.registry)
        if self.cluster is not None:   # peers' spawns and messages wait until the entries are here
            self.cluster.serve()

    def source_synced(self) -> bool:
        """Whether the source applied its first complete view of the entries (a source that
        cannot tell, like an app folder, has once start() returned)."""
        return bool(getattr(self.source, "synced", True))

    async def call(self, function_id: str, *args: Any, ctx: dict | None = None, actor: dict | None = None,
                   scope: list[str] | None = None) -> Any:
        """Call a function entry from Python (as ``actor`` with ``scope``, when given); raises WippyError on failure."""
        return await self.node.hosts[FUNCTIONS_HOST].call(function_id, list(args), ctx, actor=actor, scope=scope)

    async def stop(self) -> None:
        if self.source is not None:
            await self.source.stop()
        from .data import Resources
        from .http.manager import HttpManager
        await HttpManager.of(self).close()          # no new requests first
        if self.cluster is not None:   # singletons hand their Leases over first
            await self.cluster.stop()
        await self.supervisor.stop_all()
        Resources.of(self.node).close_all()        # consumers, pools, stores
        for host_id in list(self.node.hosts):
            host = self.node.remove_host(host_id)
            close = getattr(host, "close", None)
            if close:
                close()
        self.history.close()

    # ------------------------------------------------------------------ live change
    def code_changed(self, entry_id: str) -> set[str]:
        """Drop compiled copies of an entry and of everything that imports it; returns them."""
        seen: set[str] = set()
        todo = [entry_id]
        while todo:
            eid = todo.pop()
            if eid in seen:
                continue
            seen.add(eid)
            self.node.entry_changed(eid)
            for e in self.registry.entries():
                imports = (e.data or {}).get("imports") if isinstance(e.data, dict) else None
                if isinstance(imports, dict) and any(_ref(t, e.ns) == eid for t in imports.values()):
                    todo.append(e.id)
        return seen

    async def _after_commit(self, version: int, ops: list[Op]) -> None:
        """Make running things follow a committed change: new code for the next call, services
        started, restarted (also when their code changed) or stopped."""
        changed: set[str] = set()
        for op in ops:
            if op.entry.kind in LUA_CODE_KINDS and op.action != "create":
                changed |= self.code_changed(op.entry.id)
        touched = set()
        for op in ops:
            if op.entry.kind == "process.service":
                touched.add(op.entry.id)
                await apply_committed(self, op)
        for sid, svc in list(self.supervisor.services.items()):
            if svc.spec.process in changed and sid not in touched:
                entry = self.registry.get(sid)
                if entry is not None:
                    log.info("service %s: code of %s changed, restarting", sid, svc.spec.process)
                    await self.supervisor.replace(service_spec(self, entry))


def _ref(target: str, ns: str) -> str:
    return target if ":" in target else f"{ns}:{target}"


async def run_forever(runtime: Runtime, stop: asyncio.Event) -> None:
    await runtime.start()
    try:
        await stop.wait()
    finally:
        await runtime.stop()
