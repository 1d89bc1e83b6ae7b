"""`wippy lint`: parse and type-check Lua entries (P and E codes), optional lint rules (W codes).

Works on entries (id, kind, data with source/modules/imports/method), wherever they come from:
an app folder or a Kubernetes app. Libraries named in `imports` are checked too, so their
returned tables and exported types type the code that requires them.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Iterable, Optional

from .check import CODES, Checker, Diagnostic
from .errors import LuaSyntaxError
from .parser import Parser, parse
from .signatures import GLOBALS, MODULES
from .typesys import ANY, Rec, T

LUA_KINDS = ("function.lua", "library.lua", "process.lua", "workflow.lua")
LEVELS = {"error": 0, "warning": 1, "hint": 2}


def _global_modules() -> set[str]:
    from ..modules import SPECS
    return {s.name for s in SPECS if s.is_global and s.name != "print"}


_SIG_CACHE: dict = {}


def _sig_type(spec) -> T:
    key = repr(spec) if isinstance(spec, dict) else spec
    t = _SIG_CACHE.get(key)
    if t is not None:
        return t
    if isinstance(spec, dict):
        t = Rec({k: (_sig_type(v), False) for k, v in spec.items()}, None, open=False)
    else:
        p = Parser(spec, "signature")
        node = p.type_()
        t = Checker({}, lambda _n, _line: None).resolve(node)
    _SIG_CACHE[key] = t
    return t


def module_type(name: str) -> T:
    spec = MODULES.get(name)
    if spec is None:
        return ANY
    t = _sig_type(spec)
    return Rec(t.fields, name) if isinstance(t, Rec) else t


def builtin_globals() -> dict:
    g = _SIG_CACHE.get("__globals__")
    if g is None:
        g = {}
        for name, spec in GLOBALS.items():
            t = _sig_type(spec)
            g[name] = Rec(t.fields, name) if isinstance(t, Rec) else t
        for name in _global_modules():
            g[name] = module_type(name)
        _SIG_CACHE["__globals__"] = g
    return g


@dataclass
class EntryResult:
    entry_id: str
    kind: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    file: Optional[str] = None
    source: str = ""


class Linter:
    def __init__(self, entries: dict, rules: bool = False):
        self.entries = entries          # id -> object with .kind, .data, optional .source
        self.rules = rules
        self._libs: dict[str, T] = {}
        self._in_progress: set[str] = set()

    def library_type(self, lib_id: str) -> T:
        if lib_id in self._libs:
            return self._libs[lib_id]
        entry = self.entries.get(lib_id)
        if entry is None or lib_id in self._in_progress:
            return ANY
        self._in_progress.add(lib_id)
        try:
            checker = self._check(lib_id, entry, rules=False)
        finally:
            self._in_progress.discard(lib_id)
        t: T = ANY
        if checker is not None:
            ret = checker.returned
            if isinstance(ret, Rec):
                fields = dict(ret.fields)
                for name, tv in checker.exports.items():
                    fields.setdefault(name, (tv, False))
                t = Rec(fields, lib_id, open=True)
            elif checker.exports:
                t = Rec({n: (tv, False) for n, tv in checker.exports.items()}, lib_id, open=True)
        self._libs[lib_id] = t
        return t

    def _check(self, entry_id: str, entry, rules: bool, sink: Optional[list] = None) -> Optional[Checker]:
        data = entry.data if isinstance(entry.data, dict) else {}
        source = data.get("source")
        if not isinstance(source, str):
            return None
        try:
            chunk = parse(source, entry_id)
        except LuaSyntaxError as e:
            if sink is not None:
                sink.append(Diagnostic("P0001", e.line, e.reason))
            return None
        modules = set(data.get("modules") or [])
        imports = dict(data.get("imports") or {})
        ns = entry_id.rpartition(":")[0]

        def resolve_require(name: str, line: int) -> Optional[T]:
            if name in modules:
                return module_type(name)
            if name in imports:
                target = imports[name]
                if ":" not in target and ns:
                    target = f"{ns}:{target}"
                return self.library_type(target)
            checker.report("E0008", line, f'require("{name}") is not declared in _index.yaml imports or modules')
            return None

        checker = Checker(builtin_globals(), resolve_require, rules=rules, entry_method=data.get("method"))
        checker.check_chunk(chunk)
        if sink is not None:
            sink.extend(checker.diags)
        return checker

    def lint_entry(self, entry_id: str) -> EntryResult:
        entry = self.entries[entry_id]
        where = getattr(entry, "source", None)
        res = EntryResult(entry_id, entry.kind, file=str(where) if where else None,
                          source=(entry.data or {}).get("source", "") if isinstance(entry.data, dict) else "")
        self._check(entry_id, entry, self.rules, res.diagnostics)
        res.diagnostics.sort(key=lambda d: (LEVELS[d.severity], d.line, d.code))
        return res

    def lint(self, namespaces: Iterable[str] = ()) -> list[EntryResult]:
        pats = list(namespaces)
        out = []
        for entry_id in sorted(self.entries):
            entry = self.entries[entry_id]
            if entry.kind not in LUA_KINDS:
                continue
            ns = entry_id.rpartition(":")[0]
            if pats and not any(ns == p or fnmatch.fnmatchcase(ns, p) for p in pats):
                continue
            out.append(self.lint_entry(entry_id))
        return out


@dataclass
class _Src:
    kind: str
    data: dict
    source: Optional[str] = None


def lint_source(source: str, chunk: str = "app:main", *, kind: str = "function.lua", modules=(), imports=None,
                rules: bool = False, libraries: Optional[dict] = None, method: Optional[str] = None) -> list[Diagnostic]:
    """Diagnostics for one source (tests, the operator): libraries maps id -> library source."""
    entries = {chunk: _Src(kind, {"source": source, "modules": list(modules), "imports": dict(imports or {}),
                                  "method": method})}
    for lib_id, lib_src in (libraries or {}).items():
        entries[lib_id] = _Src("library.lua", {"source": lib_src})
    return Linter(entries, rules).lint_entry(chunk).diagnostics


__all__ = ["Linter", "lint_source", "Diagnostic", "CODES", "LUA_KINDS", "LEVELS", "EntryResult"]
