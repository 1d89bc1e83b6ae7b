"""What each `wippy` subcommand does."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from ..engine.engine import Engine
from ..engine.errors import WippyError
from ..registry import find

TERMINAL_HOST = "wippy:terminal"


class UsageError(Exception):
    pass


def dispatch(args) -> int:
    handler = {
        "run": cmd_run, "init": cmd_init, "registry": cmd_registry, "history": cmd_history,
        "rollback": cmd_rollback, "version": cmd_version,
    }[args.command]
    return handler(args)


# ---------------------------------------------------------------------- run
def split_target(target: list[str]) -> tuple[Path, list[str]]:
    """`[DIR] [list | COMMAND ARGS...]`: a first word naming a folder is the app."""
    if target and Path(target[0]).is_dir():
        return Path(target[0]), target[1:]
    return Path("."), target


def load_entries(app_dir: Path):
    from ..loader.tree import load_tree
    result = load_tree(app_dir)
    for err in result.errors:
        print(f"wippy: {err}", file=sys.stderr)
    return result.entries


def commands_of(entries) -> dict[str, Any]:
    cmds = {}
    for e in entries.values():
        cmd = (e.meta or {}).get("command")
        if e.kind == "process.lua" and isinstance(cmd, dict) and cmd.get("name"):
            cmds[cmd["name"]] = e
    return cmds


def parse_overrides(values: list[str]):
    from ..loader.overrides import OverrideError, parse_override
    try:
        return [parse_override(v) for v in values]
    except OverrideError as e:
        raise UsageError(str(e)) from None


def cmd_run(args) -> int:
    if not args.cluster and (args.join or args.listen != "127.0.0.1:7950"):
        raise UsageError("--listen and --join go with --cluster")
    if args.kubernetes:
        if args.cluster:
            raise UsageError("--cluster is for a local cluster: on Kubernetes the app's pods form one by themselves")
        return asyncio.run(_run(Path("."), args.exec_id, args.target, args.host, [], args.node_name, args,
                                args.metrics))
    app_dir, rest = split_target(args.target)
    if not app_dir.is_dir():
        raise UsageError(f"{app_dir} is not a folder")
    if args.cluster:
        from ..cluster.local import parse_addr
        try:
            for addr in args.join:
                parse_addr(addr, "--join")
            port = parse_addr(args.listen, "--listen")[1]
        except ValueError as err:
            raise UsageError(str(err)) from None
        from ..cluster.local import shared_key
        from ..runtime import DATA_DIR
        args.cluster_app = app_dir.resolve().name     # the mesh admits nodes of the same app only
        args.cluster_key = (os.environ.get("WIPPY_CLUSTER_KEY", "").encode()
                            or shared_key(app_dir / DATA_DIR / "cluster.key"))
        if not args.node_name and not os.environ.get("WIPPY_NODE_ID"):
            from ..runtime import default_node_name
            args.node_name = f"{default_node_name()}-{port}"   # distinct per node on one machine
    overrides = parse_overrides(args.override + args.set)
    if overrides:
        entries = load_entries(app_dir)
        unknown = sorted({o.entry_id for o in overrides if o.entry_id not in entries})
        if unknown:
            raise UsageError(f"override of an entry the app does not have: {', '.join(unknown)}")
    exec_id, cmd_args = args.exec_id, []
    if rest and rest[0] == "list" and not exec_id:
        cmds = commands_of(load_entries(app_dir))
        if not cmds:
            print("no commands (process.lua entries with meta.command)")
        for name, e in sorted(cmds.items()):
            print(f"{name:<20} {e.meta['command'].get('short', '')}  ({e.id})")
        return 0
    if rest and not exec_id:
        cmds = commands_of(load_entries(app_dir))
        if rest[0] not in cmds:
            raise UsageError(f"unknown command '{rest[0]}' (see `wippy run {app_dir} list`)")
        exec_id, cmd_args = cmds[rest[0]].id, rest[1:]
    elif rest:
        cmd_args = rest
    return asyncio.run(_run(app_dir, exec_id, cmd_args, args.host, overrides, args.node_name, None, args.metrics,
                            args if args.cluster else None))


async def _run(app_dir: Path, exec_id: str | None, cmd_args: list[str], host: str | None, overrides,
               node_name: str | None, kubernetes, metrics_addr: str | None = None, cluster=None) -> int:
    """``kubernetes``: the parsed `run --kubernetes` arguments, or None to run ``app_dir``;
    ``cluster``: the parsed `run --cluster` arguments (a node of a local cluster)."""
    from ..control import SOCKET, ControlServer
    from ..runtime import DATA_DIR, Runtime

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if kubernetes:
        from ..kube.source import kubernetes_runtime
        try:
            runtime = kubernetes_runtime(node_name=node_name, app=kubernetes.app, namespace=kubernetes.namespace,
                                         resync=kubernetes.resync)
        except ValueError as e:
            raise UsageError(str(e)) from None
    elif cluster is not None:
        # several nodes of one folder: each keeps its history in memory (no shared registry.db)
        from ..cluster.local import LocalCluster
        runtime = Runtime(app_dir, node_name=node_name, overrides=overrides, persist_history=False)
        runtime.cluster = LocalCluster(runtime, app=cluster.cluster_app, key=cluster.cluster_key,
                                       listen=cluster.listen, seeds=list(cluster.join))
    else:
        runtime = Runtime(app_dir, node_name=node_name, overrides=overrides)
    exit_request: list[int] = []

    def request_exit(code: int) -> None:     # system.exit(code) from Lua
        exit_request.append(code)
        stop.set()
    runtime.node.request_exit = request_exit
    started = asyncio.Event()
    # probes answer from before the start: a slow first sync is "not ready", never "not alive"
    metrics = None
    if metrics_addr:
        metrics = await _serve_metrics(runtime, metrics_addr, lambda: started.is_set() and runtime.source_synced())
    control = None
    try:
        # SIGTERM during a start that waits (an unreachable API server) stops at once
        starting, stopping = asyncio.ensure_future(runtime.start()), asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not starting.done():
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            return exit_request[0] if exit_request else 0
        starting.result()
        started.set()
        if runtime.app_dir is not None and cluster is None:
            control = ControlServer(runtime, runtime.app_dir / DATA_DIR / SOCKET)
            await control.start()
        if exec_id:
            code = await _exec(runtime, exec_id, cmd_args, host, stop)
            return exit_request[0] if exit_request else code
        import logging
        logging.getLogger("wippy").info("app running: %d entries (version %d); Ctrl-C stops it",
                                        len(runtime.registry.entries()), runtime.registry.version)
        await stop.wait()
        return exit_request[0] if exit_request else 0
    finally:
        if control is not None:
            await control.stop()
        if metrics is not None:
            await metrics.cleanup()
        await runtime.stop()


async def _serve_metrics(runtime, addr: str, ready):
    from .. import metrics
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"--metrics wants HOST:PORT, not {addr!r}")
    return await metrics.serve(runtime, host or "0.0.0.0", int(port), ready)


async def _exec(runtime, exec_id: str, cmd_args: list[str], host: str | None, stop: asyncio.Event) -> int:
    node = runtime.node
    node.command_args = list(cmd_args)
    if host is None:
        hosts = [e.id for e in runtime.registry.entries() if e.kind == "terminal.host"]
        host = hosts[0] if hosts else TERMINAL_HOST
    if host not in node.hosts and host in runtime.supervisor.services:
        await runtime.supervisor.ensure_started(host)    # lifecycle.auto_start: false: the command opens it
    if host not in node.hosts:
        if host != TERMINAL_HOST:
            raise WippyError("NotFound", f"host {host} not found")
        node.add_host(TERMINAL_HOST, Engine(node, TERMINAL_HOST, terminal=True))
    task = asyncio.ensure_future(node.exec(exec_id, host, list(cmd_args)))
    stopper = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    stopper.cancel()
    if task not in done:
        task.cancel()
        return 130
    try:
        result = task.result()
    except WippyError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        sys.stdout.flush()
    return exit_code(result)


def exit_code(result: Any) -> int:
    """A terminal process's return value as an exit code (reference §13)."""
    if result is None or result is True:
        return 0
    if result is False:
        return 1
    if isinstance(result, (int, float)) and not isinstance(result, bool):
        return int(result)
    if isinstance(result, str):
        print(result)
        return 0
    return 0


# ---------------------------------------------------------------------- init
INIT_INDEX = """\
version: "1.0"
namespace: app

entries:
  - name: terminal
    kind: terminal.host

  - name: hello
    kind: process.lua
    meta:
      command: {name: hello, short: "Say hello"}
    source: file://hello.lua
    method: main
    modules: [io]
"""

INIT_LUA = """\
local io = require("io")

local function main(...)
  local who = ... or "world"
  io.print("Hello, " .. who .. "!")
  return 0
end

return {main = main}
"""


def cmd_init(args) -> int:
    target = Path(args.dir)
    target.mkdir(parents=True, exist_ok=True)
    index = target / "_index.yaml"
    if index.exists():
        raise UsageError(f"{index} already exists")
    index.write_text(INIT_INDEX)
    (target / "hello.lua").write_text(INIT_LUA)
    print(f"created {index} and {target / 'hello.lua'}; try: wippy run {target} hello")
    return 0


# ---------------------------------------------------------------------- registry
def cmd_registry(args) -> int:
    entries = load_entries(Path(args.dir))
    if args.registry_command == "show":
        e = entries.get(args.id)
        if e is None:
            raise UsageError(f"entry {args.id} not found")
        doc = e.to_dict()
        if args.field:
            for part in args.field.split("."):
                if not isinstance(doc, dict) or part not in doc:
                    raise UsageError(f"entry {args.id} has no field {args.field}")
                doc = doc[part]
            print(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False).rstrip())
            return 0
        print(yaml.safe_dump(doc, sort_keys=False).rstrip())
        return 0
    flt: dict[str, str] = {}
    if args.kind:
        flt[".kind"] = args.kind
    if args.ns:
        flt[".ns"] = args.ns
    if args.name:
        flt[".name"] = args.name
    for m in args.meta:
        key, _, value = m.partition("=")
        flt[f"meta.{key}"] = value
    selected = sorted(find(list(entries.values()), flt) if flt else entries.values(), key=lambda e: e.id)
    if args.json:
        print(json.dumps([e.to_dict() for e in selected], indent=2, default=str))
    elif args.yaml:
        print(yaml.safe_dump([e.to_dict() for e in selected], sort_keys=False).rstrip())
    else:
        for e in selected:
            comment = (e.meta or {}).get("comment", "")
            print(f"{e.id:<40} {e.kind:<18} {comment}")
    return 0


# ---------------------------------------------------------------------- history / rollback
def _control_path(app_dir: Path) -> Path:
    from ..control import SOCKET
    from ..runtime import DATA_DIR
    return app_dir.resolve() / DATA_DIR / SOCKET


def cmd_history(args) -> int:
    from ..control import request
    path = _control_path(Path(args.dir))
    if path.exists():
        _, rows = asyncio.run(request(path, "GET", "/history"))
    else:
        rows = _offline_history(Path(args.dir))
    for r in rows:
        mark = "*" if r["head"] else " "
        print(f"{mark} {r['id']:>4}  {r['created_at'][:19]}  {r['origin']:<6} {r['summary']}")
    return 0


def _offline_history(app_dir: Path) -> list[dict]:
    from ..runtime import DATA_DIR
    from ..registry import SqliteHistory
    db = app_dir.resolve() / DATA_DIR / "registry.db"
    if not db.exists():
        raise UsageError(f"no registry history in {db.parent} (has the app run yet?)")
    h = SqliteHistory(db)
    try:
        head = h.head()
        return [{"id": v.id, "parent": v.parent, "created_at": str(v.created_at), "origin": v.origin,
                 "summary": str(v.summary), "head": v.id == head} for v in h.versions()]
    finally:
        h.close()


def cmd_rollback(args) -> int:
    from ..control import request
    path = _control_path(Path(args.dir))
    if not path.exists():
        raise UsageError(f"the app in {args.dir} is not running (no {path}); rollback acts on a running app")
    status, body = asyncio.run(request(path, "POST", "/rollback", {"version": args.version}))
    if status != 200:
        raise UsageError(body.get("error", "rollback failed"))
    print(f"registry now at version {body['version']}")
    return 0


def cmd_version(_args) -> int:
    from importlib.metadata import version
    print(version("wippy-k8s"))
    return 0
