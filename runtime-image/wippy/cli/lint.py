"""`wippy lint`: type-check an app's Lua entries (a folder, or a Kubernetes app) before running it."""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import Counter, defaultdict
from pathlib import Path

# the checker is imported when `wippy lint` runs, not by every `wippy` command's start-up
_LEVELS = ("error", "warning", "hint")


def add_command(sub) -> None:
    p = sub.add_parser("lint", help="type-check the app's Lua entries",
                       description="Parse and type-check every Lua entry (P and E codes); --rules adds "
                                   "the W-series lint rules. Exits non-zero when errors are found.")
    p.add_argument("dir", nargs="?", default=".", help="app folder (default: .)")
    p.add_argument("--level", choices=_LEVELS, default="warning", help="minimum severity shown (default warning)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--ns", action="append", default=[], metavar="PATTERN",
                   help="only entries of these namespaces (exact or glob, repeatable)")
    p.add_argument("--code", action="append", default=[], metavar="CODE", help="only these codes (repeatable)")
    p.add_argument("--limit", type=int, default=0, help="show at most this many diagnostics (0: all)")
    p.add_argument("--summary", action="store_true", help="group by namespace and code")
    p.add_argument("--no-color", action="store_true", help="plain output (the output is never colored)")
    p.add_argument("--rules", action="store_true", help="enable the W-series lint rules")
    p.add_argument("--cache-reset", action="store_true",
                   help="clear the cache of earlier results first (results are kept by content: source, "
                        "declarations, imported libraries, rules, front end)")
    p.add_argument("-l", "--lock-file", help="refused: this runtime has no hub dependencies (wippy.lock)")
    p.add_argument("--kubernetes", action="store_true", help="lint the entries of a Kubernetes app")
    p.add_argument("--app", help="with --kubernetes: the app (default: WIPPY_APP)")
    p.add_argument("--namespace", help="with --kubernetes: namespace (default: POD_NAMESPACE, else the kubeconfig's)")
    p.set_defaults(handler=cmd_lint)


def cmd_lint(args: argparse.Namespace) -> int:
    from ..lang.lint import CODES, LEVELS, LUA_KINDS, Linter
    from .main import cache_dir
    if args.lock_file is not None:
        print("wippy: lint --lock-file: hub dependencies (wippy.lock) are not supported by this runtime; "
              "lint checks the entries of the app folder or Kubernetes app", file=sys.stderr)
        return 2
    root = cache_dir()
    cache = root / "lint" if root is not None else None
    if args.cache_reset and cache is not None:
        shutil.rmtree(cache, ignore_errors=True)
    if args.kubernetes:
        entries = kubernetes_entries(args.app, args.namespace)
    else:
        from .commands import load_entries
        if not Path(args.dir).is_dir():
            print(f"wippy: {args.dir} is not a folder", file=sys.stderr)
            return 2
        entries = load_entries(Path(args.dir))
    results = Linter(entries, rules=args.rules, cache=cache).lint(args.ns)
    max_level = LEVELS[args.level]
    codes = set(args.code)
    shown = []
    counts: Counter[str] = Counter()
    for r in results:
        for d in r.diagnostics:
            counts[d.severity] += 1
            if LEVELS[d.severity] <= max_level and (not codes or d.code in codes):
                shown.append((r, d))
    if args.limit > 0:
        shown = shown[:args.limit]
    total = sum(1 for e in entries.values() if e.kind in LUA_KINDS)
    summary = (f"Checked {len(results)} entries: {counts['error']} error{'s' if counts['error'] != 1 else ''}, "
               f"{counts['warning']} warning{'s' if counts['warning'] != 1 else ''}")
    if args.json:
        print(json.dumps({
            "diagnostics": [{"entry_id": r.entry_id, "code": d.code, "severity": d.severity, "message": d.message,
                             "line": d.line, "column": d.column}
                            for r, d in shown],
            "total_entries": total, "error_count": counts["error"], "warning_count": counts["warning"],
            "hint_count": counts["hint"],
        }, indent=2))
    elif args.summary:
        by_ns: dict = defaultdict(Counter)
        by_code: Counter = Counter()
        for r, d in shown:
            by_ns[r.entry_id.rpartition(":")[0]][d.severity] += 1
            by_code[d.code] += 1
        print("By namespace:\n")
        for ns in sorted(by_ns):
            c = by_ns[ns]
            parts = ", ".join(f"{c[s]} {s}{'s' if c[s] != 1 else ''}" for s in ("error", "warning", "hint") if c[s])
            print(f"  {ns or '(root)':<32} {sum(c.values()):>3} issues ({parts})")
        print("\nBy error code:\n")
        for code in sorted(by_code):
            sev = "warning" if code.startswith("W") else "error"
            print(f"  {code:<10} [{sev:<7}] {by_code[code]:>4} occurrences   {CODES.get(code, '')}")
        print("\n" + summary)
    else:
        for r, d in shown:
            declared = f" (declared at {r.file})" if r.file else ""
            print(f"{d.severity}[{d.code}]: {d.message}\n  --> {r.entry_id}:{d.line}{declared}")
            lines = r.source.splitlines()
            if 0 < d.line <= len(lines):
                print(f"{d.line:>5} | {lines[d.line - 1].rstrip()}")
            print()
        print(summary)
    return 1 if counts["error"] else 0


def kubernetes_entries(app: str | None, namespace: str | None) -> dict:
    """The app's Lua entries as custom resources hold them (the operator's and the pods' view)."""
    import asyncio
    import os

    from ..kube.api import ApiError, KubeApi, pod_namespace
    from ..kube.crds import APP_LABEL
    from ..kube.manifests import spec_to_entry
    from ..kube.naming import GROUP, VERSION, crd_kind, plural
    from ..lang.lint import LUA_KINDS

    app = app or os.environ.get("WIPPY_APP")
    if not app:
        raise SystemExit("wippy: lint --kubernetes needs --app APP (or WIPPY_APP)")

    async def fetch() -> dict:
        api, config_ns = KubeApi.from_environment()
        ns = pod_namespace(namespace, config_ns)
        out = {}
        try:
            for kind in LUA_KINDS:
                crd = crd_kind(kind)
                try:
                    listing = await api.get(f"/apis/{GROUP}/{VERSION}/namespaces/{ns}/{plural(crd)}",
                                            labelSelector=f"{APP_LABEL}={app}")
                except ApiError as e:
                    if e.status == 404:
                        continue
                    raise
                for obj in listing.get("items", []):
                    try:
                        entry = spec_to_entry(crd, obj.get("spec") or {})
                    except ValueError as e:
                        print(f"wippy: {obj['metadata']['name']}: {e}", file=sys.stderr)
                        continue
                    out[entry.id] = entry
        finally:
            await api.close()
        return out

    return asyncio.run(fetch())
