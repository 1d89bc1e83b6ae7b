"""`wippy mcp` (serve an app to agents over MCP) and `wippy mcp-token` (issue, list, revoke)."""
from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from ..mcp.tokens import ACTIONS


def add_command(sub) -> None:
    p = sub.add_parser("mcp", help="serve a running app to agents over MCP (stdio, or streamable HTTP)",
                       description="Serve the app running from DIR (`wippy run DIR`) to an MCP client. "
                                   "stdio: the token comes from WIPPY_MCP_TOKEN; --http: each request "
                                   "carries `Authorization: Bearer <token>`.")
    p.add_argument("dir", nargs="?", default=".")
    p.add_argument("--http", metavar="HOST:PORT", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    p.add_argument("--kubernetes", action="store_true",
                   help="act on an app's custom resources (writes with field manager `wippy`; only entries "
                        "labelled wippy.ai/agent-owned=true change); DIR then only holds tokens and the audit log")
    p.add_argument("--app", help="with --kubernetes: the app (default: WIPPY_APP)")
    p.add_argument("--namespace", "-n", help="with --kubernetes: namespace of the entries (default: the kubeconfig's)")
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
    ls = tsub.add_parser("list", help="list tokens (never their secrets)")
    ls.add_argument("dir", nargs="?", default=".")
    rv = tsub.add_parser("revoke", help="revoke a token; it fails from its next call on")
    rv.add_argument("id")
    rv.add_argument("dir", nargs="?", default=".")
    t.set_defaults(kube_handler=cmd_token)


def cmd_mcp(args) -> int:
    from ..mcp.server import AppLink, KubeLink, serve_http, serve_stdio
    if args.kubernetes:
        from ..mcp.kube_ops import KubeOps
        app = args.app or os.environ.get("WIPPY_APP")
        if not app:
            print("wippy: wippy mcp --kubernetes needs --app APP (or WIPPY_APP)", file=sys.stderr)
            return 2
        link: AppLink = KubeLink(Path(args.dir), KubeOps(app, args.namespace))
    elif args.app or args.namespace:
        print("wippy: --app and --namespace go with --kubernetes", file=sys.stderr)
        return 2
    else:
        link = AppLink(Path(args.dir))
    if args.http:
        host, sep, port = args.http.rpartition(":")
        if not sep or not port.isdigit():
            print(f"wippy: --http wants HOST:PORT, not {args.http!r}", file=sys.stderr)
            return 2
        asyncio.run(serve_http(link, host or "127.0.0.1", int(port)))
        return 0
    asyncio.run(serve_stdio(link, os.environ.get("WIPPY_MCP_TOKEN")))
    return 0


def cmd_token(args) -> int:
    from ..mcp.server import AppLink
    store = AppLink(Path(args.dir)).tokens
    if args.token_command == "create":
        actions = [a.strip() for a in args.actions.split(",") if a.strip()]
        grant, secret = store.issue(args.actor, args.ns, args.kind, actions)
        print(json.dumps({"id": grant.id, "token": secret, **{k: v for k, v in grant.public().items() if k != "id"}}))
    elif args.token_command == "list":
        for g in store.list():
            state = "revoked" if g.revoked_at else "active"
            print(f"{g.id}  {state:<7}  {g.actor:<16}  ns={','.join(g.namespaces)}  kinds={','.join(g.kinds)}  "
                  f"actions={','.join(g.actions)}")
    else:
        g = store.revoke(args.id)
        print(f"revoked {g.id} ({g.actor})")
    return 0
