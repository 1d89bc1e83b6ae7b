"""`wippy lint`: parse and type-check Lua entries (P and E codes), optional lint rules (W codes).

Works on entries (id, kind, data with source/modules/imports/method), wherever they come from:
an app folder or a Kubernetes app. Libraries named in `imports` are checked too, so their
returned tables and exported types type the code that requires them.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from . import front_end_version
from .check import CODES, Checker, Diagnostic
from .errors import LuaSyntaxError
from .parser import Parser, parse
from .signatures import DUAL_CALL, GLOBALS, MODULES
from .typesys import ANY, Fn, Rec, T

LUA_KINDS = ("function.lua", "library.lua", "process.lua", "workflow.lua")
LEVELS = {"error": 0, "warning": 1, "hint": 2}


def _ambient() -> frozenset[str]:
    from ..modules import AMBIENT
    return AMBIENT


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
    if not isinstance(t, Rec):
        return t
    fields = t.fields
    if name in DUAL_CALL:   # a colon call takes the dot call's arguments
        fields = {k: (dataclasses.replace(ft, dual=True) if isinstance(ft, Fn) else ft, opt)
                  for k, (ft, opt) in fields.items()}
    return Rec(fields, name)


def builtin_globals() -> dict:
    g = _SIG_CACHE.get("__globals__")
    if g is None:
        g = {}
        for name, spec in GLOBALS.items():
            t = _sig_type(spec)
            g[name] = Rec(t.fields, name) if isinstance(t, Rec) else t
        for name in _ambient() - {"print"}:
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
    def __init__(self, entries: dict, rules: bool = False, cache: Optional[Path] = None):
        self.entries = entries          # id -> object with .kind, .data, optional .source
        self.rules = rules
        self.cache = cache              # a folder of earlier results, by what they depend on (_key)
        self._libs: dict[str, T] = {}
        self._in_progress: set[str] = set()

    def _key(self, entry_id: str) -> str:
        """What an entry's diagnostics depend on: its code and declarations, those of the
        libraries it imports (transitively), the rules, the ambient modules and the front end."""
        h = hashlib.blake2b(digest_size=20)
        h.update(f"{front_end_version()}|{self.rules}|{sorted(_ambient())}".encode())
        seen: set[str] = set()
        todo = [entry_id]
        while todo:
            eid = todo.pop()
            if eid in seen:
                continue
            seen.add(eid)
            entry = self.entries.get(eid)
            data = entry.data if entry is not None and isinstance(entry.data, dict) else {}
            imports = dict(data.get("imports") or {})
            h.update(json.dumps([eid, entry.kind if entry is not None else None, data.get("source"),
                                 data.get("method"), sorted(data.get("modules") or []), imports],
                                sort_keys=True, default=str).encode() + b"\0")
            ns = eid.rpartition(":")[0]
            todo.extend(sorted(t if ":" in t or not ns else f"{ns}:{t}" for t in imports.values()))
        return h.hexdigest()

    def _cached(self, entry_id: str) -> tuple[Optional[Path], Optional[list[Diagnostic]]]:
        if self.cache is None:
            return None, None
        path = self.cache / f"{self._key(entry_id)}.json"
        try:
            return path, [Diagnostic(*d) for d in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError):
            return path, None

    @staticmethod
    def _store(path: Path, diags: list[Diagnostic]) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp.write_text(json.dumps([[d.code, d.line, d.message, d.column] for d in diags]))
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink()
            except OSError:
                pass

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
        modules = set(data.get("modules") or []) | _ambient()
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
        path, cached = self._cached(entry_id)
        if cached is not None:
            res.diagnostics = cached
        else:
            self._check(entry_id, entry, self.rules, res.diagnostics)
            if path is not None:
                self._store(path, res.diagnostics)
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
    """Diagnostics for one source (tests, the operator): libraries maps id -> library source, or
    its entry data (source, modules, imports), which the libraries' own requires resolve by."""
    entries = {chunk: _Src(kind, {"source": source, "modules": list(modules), "imports": dict(imports or {}),
                                  "method": method})}
    for lib_id, lib in (libraries or {}).items():
        entries[lib_id] = _Src("library.lua", dict(lib) if isinstance(lib, dict) else {"source": lib})
    return Linter(entries, rules).lint_entry(chunk).diagnostics


__all__ = ["Linter", "lint_source", "Diagnostic", "CODES", "LUA_KINDS", "LEVELS", "EntryResult"]
