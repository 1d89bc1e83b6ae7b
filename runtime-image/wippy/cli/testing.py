"""`wippy test`: run an app's test entries (framework/testing.md)."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from ..testing import report as reports
from ..testing.runner import DEFAULT_TIMEOUT, Runner, discover


def add_command(sub) -> None:
    p = sub.add_parser("test", help="run the app's tests (function.lua entries with meta.type: test)",
                       description="Run the app's tests: `wippy test [DIR] [PATTERN...]`; patterns match "
                                   "entry ids (any of them selects a test).")
    p.add_argument("target", nargs="*", help="[DIR] [PATTERN...]")
    p.add_argument("--json", action="store_true", help="print the results as JSON instead of progress")
    p.add_argument("--junit", metavar="FILE", help="also write the results as JUnit XML to FILE")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"fail a test entry that runs longer (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--kubernetes", action="store_true",
                   help="run the tests of an app's custom resources, in a runtime fed from the cluster as its pods are")
    p.add_argument("--app", help="with --kubernetes: the app (default: WIPPY_APP)")
    p.add_argument("--namespace", "-n", help="with --kubernetes: namespace of the entries (default: the kubeconfig's)")
    p.add_argument("--selector", metavar="SELECTOR",
                   help="with --kubernetes: label selector of the app's entries (default: wippy.ai/app=APP)")
    p.set_defaults(kube_handler=cmd_test)


def cmd_test(args) -> int:
    if args.kubernetes:
        return asyncio.run(_test(None, list(args.target), args))
    if args.app or args.namespace or args.selector:
        print("wippy: --app, --namespace and --selector go with --kubernetes", file=sys.stderr)
        return 2
    target = list(args.target)
    app_dir = Path(target.pop(0)) if target and Path(target[0]).is_dir() else Path(".")
    if not any(app_dir.rglob("_index.yaml")):
        print(f"wippy: {app_dir} has no _index.yaml: not an app folder", file=sys.stderr)
        return 1
    return asyncio.run(_test(app_dir, target, args))


async def _test(app_dir: Path | None, patterns: list[str], args) -> int:
    from ..runtime import DATA_DIR, Runtime
    if app_dir is None:
        from ..testing.kubernetes import runtime_for_tests
        try:
            runtime = runtime_for_tests(app=args.app, namespace=args.namespace, selector=args.selector)
        except ValueError as e:
            print(f"wippy: {e}", file=sys.stderr)
            return 2
    else:
        (app_dir / DATA_DIR).mkdir(exist_ok=True)   # the app's own files live there (e.g. SQLite), as under `wippy run`
        runtime = Runtime(app_dir, persist_history=False)   # a test run leaves the app's history alone
    await runtime.start()
    try:
        tests = discover(runtime.registry.entries(), patterns)
        progress = None if args.json else reports.Progress()
        if progress:
            progress.start(len(tests), len({t.meta.get("suite") or t.ns for t in tests}))
        runner = Runner(runtime, timeout=args.timeout, on_result=progress.result if progress else None)
        report = await runner.run(tests)
    finally:
        await runtime.stop()
    if progress:
        progress.summary(report)
    else:
        print(reports.to_json(report))
    if args.junit:
        Path(args.junit).write_text(reports.to_junit(report))  # noqa: ASYNC240 - the run is over; nothing else waits
    if runtime.errors:
        print(f"wippy: the app has {len(runtime.errors)} entries that did not load (see above)", file=sys.stderr)
        return 1
    return 0 if report.ok else 1
