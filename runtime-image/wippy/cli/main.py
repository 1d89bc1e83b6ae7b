"""The `wippy` command line."""
from __future__ import annotations

import argparse
import sys

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
                                     "`wippy run [DIR] NAME [ARGS...]` runs one command.")
    run.add_argument("target", nargs="*", help="[DIR] [list | COMMAND [ARGS...]]")
    run.add_argument("-x", "--exec", dest="exec_id", metavar="NS:ENTRY",
                     help="run this process.lua entry on a terminal host, then exit")
    run.add_argument("--host", help="terminal host for --exec (default: the app's terminal.host, else a built-in one)")
    run.add_argument("-o", "--override", action="append", default=[], metavar="NS:ENTRY:PATH=VALUE",
                     help="override an entry field (repeatable)")
    run.add_argument("--set", action="append", default=[], metavar="NS:ENTRY:PATH=VALUE", help="same as -o")
    run.add_argument("--node-name", help="node name used in pids (default: WIPPY_NODE_ID or hostname)")
    run.add_argument("--kubernetes", action="store_true",
                     help="feed the registry from the app's custom resources instead of files")
    run.add_argument("--app", help="with --kubernetes: the app whose entries (label wippy.ai/app) to run "
                                   "(default: WIPPY_APP)")
    run.add_argument("--namespace", help="with --kubernetes: namespace of the entries "
                                         "(default: POD_NAMESPACE, else the kubeconfig's)")
    run.add_argument("--resync", type=float, default=60.0, metavar="SECONDS",
                     help="with --kubernetes: relist every entry kind at least this often (default 60)")

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
    from ..kube import crds, manifests, revisions
    crds.add_command(sub)
    manifests.add_command(sub)
    revisions.add_arguments(hist, rb)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(verbose=args.verbose, silent=args.silent, fmt=args.log_format)
    from . import commands
    from ..engine.errors import WippyError
    try:
        return args.kube_handler(args) if getattr(args, "kube_handler", None) else commands.dispatch(args)
    except (WippyError, commands.UsageError) as e:
        print(f"wippy: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
