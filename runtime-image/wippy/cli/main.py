"""The `wippy` command line."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import logs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wippy", description="Run and manage Wippy applications.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-s", "--silent", action="store_true", help="only errors")
    p.add_argument("--log-format", choices=["console", "json"], default="console")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run an application folder",
                         description="Run an app: `wippy run [DIR]` serves it until stopped; "
                                     "`wippy run [DIR] list` lists its commands; "
                                     "`wippy run [DIR] NAME [ARGS...]` runs one command; everything "
                                     "after the command name reaches the command untouched.")
    run.add_argument("target", nargs="*", help="[DIR] [list | COMMAND [ARGS...]]")
    run.add_argument("-x", "--exec", dest="exec_id", metavar="NS:ENTRY",
                     help="run this process.lua entry on a terminal host, then exit")
    run.add_argument("--host", help="terminal host for --exec (default: the app's terminal.host, else a built-in one)")
    run.add_argument("-o", "--override", action="append", default=[], metavar="NS:ENTRY:PATH=VALUE",
                     help="override an entry field (repeatable)")
    run.add_argument("--set", action="append", default=[], metavar="NS:ENTRY:PATH=VALUE", help="same as -o")
    run.add_argument("--node-name", help="node name used in pids (default: WIPPY_NODE_ID or hostname)")
    run.add_argument("--metrics", metavar="HOST:PORT", default=os.environ.get("WIPPY_METRICS_ADDR"),
                     help="serve Prometheus metrics at http://HOST:PORT/metrics (default: WIPPY_METRICS_ADDR)")
    run.add_argument("--kubernetes", action="store_true",
                     help="feed the registry from the app's entries as its operator projects them, instead of files")
    run.add_argument("--app", help="with --kubernetes: the app whose entries to run (default: WIPPY_APP)")
    run.add_argument("--namespace", help="with --kubernetes: namespace of the entries "
                                         "(default: POD_NAMESPACE, else the kubeconfig's)")
    run.add_argument("--resync", type=float, default=60.0, metavar="SECONDS",
                     help="with --kubernetes: relist the app's entries at least this often (default 60)")
    run.add_argument("--cluster", action="store_true",
                     help="run as one node of a local cluster (development): the mesh on --listen, "
                          "joined through --join; key from WIPPY_CLUSTER_KEY, else DIR/.wippy/cluster.key")
    run.add_argument("--listen", metavar="HOST:PORT", default="127.0.0.1:7950",
                     help="with --cluster: the mesh's address (default 127.0.0.1:7950)")
    run.add_argument("--join", action="append", default=[], metavar="HOST:PORT",
                     help="with --cluster: the mesh address of a node already running (repeatable)")

    init = sub.add_parser("init", help="create a new app that runs")
    init.add_argument("dir", nargs="?", default=".")

    reg = sub.add_parser("registry", help="inspect an app's entries without running it")
    reg_sub = reg.add_subparsers(dest="registry_command", required=True)
    ls = reg_sub.add_parser("list", help="list entries")
    ls.add_argument("dir", nargs="?", default=".")
    ls.add_argument("--kind")
    ls.add_argument("--ns")
    ls.add_argument("--name")
    ls.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
    ls.add_argument("--json", action="store_true")
    ls.add_argument("--yaml", action="store_true")
    show = reg_sub.add_parser("show", help="show one entry")
    show.add_argument("id")
    show.add_argument("dir", nargs="?", default=".")
    show.add_argument("--field", help="print only this field (dotted path)")

    hist = sub.add_parser("history", help="list the registry versions of an app")
    hist.add_argument("dir", nargs="?", default=".")
    rb = sub.add_parser("rollback", help="return a running app's registry to an earlier version")
    rb.add_argument("version", nargs="?", metavar="VERSION|ENTRY", help="registry version, or an entry (Kubernetes, with --to-revision)")
    rb.add_argument("dir", nargs="?", default=".")

    sub.add_parser("version", help="print the version")
    from . import lint
    lint.add_command(sub)
    from ..kube import crds, manifests, revisions
    from . import mcp, testing
    testing.add_command(sub)
    mcp.add_command(sub)
    crds.add_command(sub)
    manifests.add_command(sub)
    revisions.add_arguments(hist, rb)
    return p


def split_run_args(argv: list[str]) -> list[str]:
    """`wippy run` takes its options anywhere before the command name; what follows the command
    (or, with -x, the app folder) is the command's own, even when it looks like an option."""
    try:
        at = argv.index("run")
    except ValueError:
        return argv
    parser = build_parser()
    # argparse has no public accessor for a subcommand's parser
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    run = commands.choices["run"]
    takes_value = {s for a in run._actions if a.nargs != 0 for s in a.option_strings}
    opts: list[str] = []
    positional: list[str] = []
    i = at + 1
    while i < len(argv):
        tok = argv[i]
        command_started = len(positional) >= (2 if positional and Path(positional[0]).is_dir() else 1)
        if command_started:
            positional.extend(argv[i:])
            break
        if tok.startswith("-") and tok != "-":
            opts.append(tok)
            if tok in takes_value and i + 1 < len(argv):
                opts.append(argv[i + 1])
                i += 1
        else:
            positional.append(tok)
        i += 1
    return argv[:at + 1] + opts + ["--"] + positional


def cache_dir() -> Path | None:
    """Where compiled Lua is kept between runs: WIPPY_CACHE_DIR (empty: nowhere), else the
    user's cache folder."""
    env = os.environ.get("WIPPY_CACHE_DIR")
    if env is not None:
        return Path(env) if env else None
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wippy"


def main(argv: list[str] | None = None) -> int:
    argv = split_run_args(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    logs.configure(verbose=args.verbose, silent=args.silent, fmt=args.log_format)
    from .. import lang
    lang.set_disk_cache(cache_dir())
    from . import commands
    from ..engine.errors import WippyError
    try:
        if getattr(args, "handler", None):
            return args.handler(args)
        return args.kube_handler(args) if getattr(args, "kube_handler", None) else commands.dispatch(args)
    except (WippyError, commands.UsageError) as e:
        print(f"wippy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
