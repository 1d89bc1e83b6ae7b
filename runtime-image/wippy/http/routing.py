"""Route tables: compiled from the http.* entries of one service, immutable once built.

A service holds one table and swaps it for a new one on every change, so a request keeps
the table (and endpoint) it matched while later requests see the new routes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}")


class RouteError(ValueError):
    pass


@dataclass(frozen=True)
class Pattern:
    text: str
    regex: re.Pattern | None      # None: a literal path, matched by dict lookup
    names: tuple[str, ...]

    def match(self, path: str) -> dict[str, str] | None:
        assert self.regex is not None   # literal paths are looked up, not matched
        m = self.regex.fullmatch(path)
        return None if m is None else dict(zip(self.names, m.groups()))


def join(prefix: str, path: str) -> str:
    base = prefix.rstrip("/")
    return (base or "/") if path == "/" else base + path


def compile_path(path: str) -> Pattern:
    """'/users/{id}' captures one segment; '{rest...}' captures the rest and must come last."""
    parts, names, pos = [], [], 0
    for m in _PARAM.finditer(path):
        literal = path[pos:m.start()]
        if "{" in literal or "}" in literal:
            raise RouteError(f"path {path!r}: malformed parameter near {literal!r}")
        parts.append(re.escape(literal))
        name, rest = m.group(1), m.group(2)
        if name in names:
            raise RouteError(f"path {path!r}: parameter {{{name}}} appears twice")
        names.append(name)
        if rest:
            if m.end() != len(path):
                raise RouteError(f"path {path!r}: {{{name}...}} must be the last part of the path")
            parts.append("(.*)")
        else:
            parts.append("([^/]+)")
        pos = m.end()
    tail = path[pos:]
    if "{" in tail or "}" in tail:
        raise RouteError(f"path {path!r}: malformed parameter near {tail!r}")
    parts.append(re.escape(tail))
    if not names:
        return Pattern(path, None, ())
    return Pattern(path, re.compile("".join(parts)), tuple(names))


def shape(path: str) -> str:
    """Two paths with the same shape match the same requests ('/a/{x}' ~ '/a/{y}')."""
    return _PARAM.sub(lambda m: "{...}" if m.group(2) else "{}", path)


@dataclass(frozen=True)
class Endpoint:
    id: str
    method: str
    path: str
    func: str
    route: str = ""     # the full pattern, router prefix included (a metrics label)


@dataclass
class Router:
    """Routes of one http.router (or one http.static mount), with its middleware."""
    id: str
    prefix: str
    middleware: tuple = ()               # pre-match middleware instances
    post_middleware: tuple = ()          # post-match middleware instances
    literal: dict[str, dict[str, Endpoint]] = field(default_factory=dict)   # path -> method -> endpoint
    patterns: list[tuple[Pattern, dict[str, Endpoint]]] = field(default_factory=list)
    static: Any = None                   # a StaticMount for http.static

    def add(self, ep: Endpoint) -> None:
        full = join(self.prefix, ep.path)
        ep = replace(ep, route=full)
        pattern = compile_path(full)
        if pattern.regex is None:
            methods = self.literal.setdefault(full, {})
        else:
            same = next((m for p, m in self.patterns if shape(p.text) == shape(full)), None)
            if same is None:
                same = {}
                self.patterns.append((pattern, same))
            methods = same
        if ep.method in methods:
            raise RouteError(f"{ep.method} {full} is already served by {methods[ep.method].id}")
        methods[ep.method] = ep

    def owns(self, path: str) -> bool:
        p = self.prefix.rstrip("/")
        return not p or path == p or path.startswith(p + "/")

    def find(self, path: str) -> tuple[dict[str, Endpoint], dict[str, str]] | None:
        methods = self.literal.get(path)
        if methods is not None:
            return methods, {}
        for pattern, methods in self.patterns:
            params = pattern.match(path)
            if params is not None:
                return methods, params
        return None


@dataclass(frozen=True)
class Match:
    router: Router | None
    endpoint: Endpoint | None = None
    params: dict[str, str] | None = None
    allowed: tuple[str, ...] = ()       # methods the path does have when the method is wrong


class RouteTable:
    def __init__(self, routers: list[Router]):
        # longest prefix first, so '/api' wins over '/' for '/api/x'
        self.routers = sorted(routers, key=lambda r: len(r.prefix.rstrip("/")), reverse=True)

    def router_for(self, path: str) -> Router | None:
        """The router whose routes serve this path, else the one with the longest prefix."""
        first = None
        for r in self.routers:
            if r.owns(path):
                if r.static is not None or r.find(path) is not None:
                    return r
                first = first or r
        return first

    @staticmethod
    def match(router: Router | None, method: str, path: str) -> Match:
        if router is None or router.static is not None:
            return Match(router)
        found = router.find(path)
        if found is None:
            return Match(router)
        methods, params = found
        ep = methods.get(method) or (methods.get("GET") if method == "HEAD" else None)
        if ep is None:
            return Match(router, allowed=tuple(sorted(methods)))
        return Match(router, ep, params)
