"""`wippy mcp` (serve an app to agents over MCP) and `wippy mcp-token` (issue, list, revoke)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from ..mcp.tokens import ACTIONS


def _store_args(p) -> None:
    p.add_argument("--token-store", metavar="ENTRY", default=None,
                   help="the security.token_store entry keeping the tokens (default: WIPPY_MCP_TOKEN_STORE, "
                        "else the built-in wippy.mcp:tokens over SQLite in DIR/.wippy/mcp-tokens.db)")
    p.add_argument("--kubernetes", action="store_true",
                   help="act on an app's custom resources (writes with field manager `wippy`; only entries "
                        "labelled wippy.ai/agent-owned=true change); DIR then holds the audit log (and the "
                        "default token store)")
    p.add_argument("--app", help="with --kubernetes: the app (default: WIPPY_APP)")
    p.add_argument("--namespace", "-n", help="with --kubernetes: namespace of the entries (default: the kubeconfig's)")


def add_command(sub) -> None:
    p = sub.add_parser("mcp", help="serve a running app to agents over MCP (stdio, or streamable HTTP)",
                       description="Serve the app running from DIR (`wippy run DIR`) to an MCP client. "
                                   "stdio: the token comes from WIPPY_MCP_TOKEN; --http: each request "
                                   "carries `Authorization: Bearer <token>`.")
    p.add_argument("dir", nargs="?", default=".")
    p.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    _store_args(p)
    p.set_defaults(kube_handler=cmd_mcp)

    t = sub.add_parser("mcp-token", help="issue, list or revoke the MCP tokens of an app")
    tsub = t.add_subparsers(dest="token_command", required=True)
    c = tsub.add_parser("create", help="issue a token (printed once; only its hash is kept)")
    c.add_argument("dir", nargs="?", default=".")
    c.add_argument("--actor", required=True, help="who acts with this token (recorded with every change)")
    c.add_argument("--ns", action="append", default=[], metavar="PATTERN",
                   help="namespaces it may touch, glob patterns (repeatable; default all)")
    c.add_argument("--kind", action="append", default=[], metavar="PATTERN",
                   help="entry kinds it may touch, glob patterns (repeatable; default all)")
    c.add_argument("--actions", default=",".join(ACTIONS),
                   help=f"comma-separated, of: {', '.join(ACTIONS)} (default all)")
    c.add_argument("--policy", action="append", default=[], metavar="ENTRY",
                   help="security.policy entry that must also allow mcp.<action> on each entry (repeatable)")
    c.add_argument("--policy-group", action="append", default=[], metavar="GROUP",
                   help="the policies of a group, the same way (repeatable; read at each call)")
    c.add_argument("--expires", metavar="DURATION",
                   help="lifetime, e.g. 8h (default: the token store's default_expiration; 720h for the built-in one)")
    _store_args(c)
    ls = tsub.add_parser("list", help="list tokens (never their secrets)")
    ls.add_argument("dir", nargs="?", default=".")
    _store_args(ls)
    rv = tsub.add_parser("revoke", help="revoke a token; it fails from its next call on")
    rv.add_argument("id")
    rv.add_argument("dir", nargs="?", default=".")
    _store_args(rv)
    t.set_defaults(kube_handler=cmd_token)


def _target(args):
    """(the app's KubeOps or None, an error message or None)."""
    if args.kubernetes:
        from ..mcp.kube_ops import KubeOps
        app = args.app or os.environ.get("WIPPY_APP")
        if not app:
            return None, f"wippy {args.command}: --kubernetes needs --app APP (or WIPPY_APP)"
        return KubeOps(app, args.namespace), None
    if args.app or args.namespace:
        return None, "--app and --namespace go with --kubernetes"
    return None, None


def _tokens(args, ops):
    from ..loader.tree import load_tree
    from ..mcp.tokens import open_tokens
    from ..runtime import DATA_DIR
    store = args.token_store or os.environ.get("WIPPY_MCP_TOKEN_STORE") or None
    app_dir = Path(args.dir).resolve()

    def entries():
        if ops is not None:
            return ops.entries_now()
        loaded = load_tree(app_dir)
        return loaded.entries
    return open_tokens(store, app_dir / DATA_DIR, entries)


def cmd_mcp(args) -> int:
    from ..mcp.server import AppLink, KubeLink, serve_http, serve_stdio
    ops, problem = _target(args)
    if problem:
        print(f"wippy: {problem}", file=sys.stderr)
        return 2
    address = None
    if args.http:
        host, sep, port = args.http.rpartition(":")
        if not sep or not port.isdigit():
            print(f"wippy: --http wants HOST:PORT, not {args.http!r}", file=sys.stderr)
            return 2
        address = (host or "127.0.0.1", int(port))

    async def main() -> None:
        tokens = _tokens(args, ops)
        try:
            link = AppLink(Path(args.dir), tokens) if ops is None else KubeLink(Path(args.dir), tokens, ops)
            if address:
                await serve_http(link, *address)
            else:
                await serve_stdio(link, os.environ.get("WIPPY_MCP_TOKEN"))
        finally:
            tokens.close()
    asyncio.run(main())
    return 0


def cmd_token(args) -> int:
    ops, problem = _target(args)
    if problem:
        print(f"wippy: {problem}", file=sys.stderr)
        return 2

    async def main() -> None:
        store = _tokens(args, ops)
        try:
            if args.token_command == "create":
                actions = [a.strip() for a in args.actions.split(",") if a.strip()]
                grant, secret = await store.issue(args.actor, args.ns, args.kind, actions, args.expires,
                                                  args.policy, args.policy_group)
                print(json.dumps({"id": grant.id, "token": secret,
                                  **{k: v for k, v in grant.public().items() if k != "id"}}))
            elif args.token_command == "list":
                for g in await store.list():
                    state = "revoked" if g.revoked_at else "active"
                    policies = g.policies + [f"group:{x}" for x in g.policy_groups]
                    print(f"{g.id}  {state:<7}  {g.actor:<16}  ns={','.join(g.namespaces)}  "
                          f"kinds={','.join(g.kinds)}  actions={','.join(g.actions)}"
                          + (f"  policies={','.join(policies)}" if policies else ""))
            else:
                g = await store.revoke(args.id)
                print(f"revoked {g.id} ({g.actor})")
        finally:
            store.close()
    asyncio.run(main())
    return 0
