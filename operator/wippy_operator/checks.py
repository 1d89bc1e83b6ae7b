"""What the API server's schema cannot check about an entry: the model's own rules, Lua that
parses, granted modules that exist, the method in the table the code returns (where the code
returns a table constructor), references that resolve within the app."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from wippy.kinds.handlers.lua_code import unknown_module
from wippy.lang import LuaSyntaxError, SyntaxChecker, parse
from wippy.lang import ast as A
from wippy.lang.lint import LUA_KINDS, lint_source

from wippy.kinds.models.catalog import EntryInvalid, entry_references, validate_entry
from wippy.kube.manifests import ManifestError, from_object
from wippy.loader.interpolate import InterpolationError, resolve_entry_data
from wippy.registry.entry import Entry, InvalidEntryId, resolve_ref

# Ids in this namespace are provided by the runtime itself (e.g. wippy:terminal).
BUILTIN_NS = "wippy"


@dataclass(frozen=True)
class Problem:
    reason: str  # CamelCase, as condition reasons are
    message: str


class LuaChecker:
    """Compiles Lua without running it, the way kinds/handlers/lua_code.py does on apply."""

    def __init__(self) -> None:
        self._checker = SyntaxChecker()

    def syntax_error(self, entry_id: str, source: str) -> str | None:
        return self._checker.error(entry_id, source)


def _no_env(_name: str) -> None:
    return None


def entry_of(obj: dict) -> Entry | Problem:
    try:
        return from_object(obj)
    except (InvalidEntryId, ManifestError, ValueError) as e:
        return Problem("InvalidId", str(e))


@dataclass(frozen=True)
class Intrinsic:
    """What an object's spec alone says: its first problem, else the ids it references (and
    the lint warnings of its Lua, reported as Events)."""
    problem: Problem | None
    references: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


def intrinsic(obj: dict, lua: LuaChecker) -> Intrinsic:
    entry = entry_of(obj)
    if isinstance(entry, Problem):
        return Intrinsic(entry)
    try:
        # `${env:NAME|default}` is the pod's to resolve: check the entry as the default makes it
        validate_entry(dataclasses.replace(entry, data=resolve_entry_data(entry.data, _no_env)))
    except InterpolationError:
        pass   # a placeholder without a default: only the pod's environment can tell
    except EntryInvalid as e:
        return Intrinsic(Problem("InvalidSpec", e.reason))
    source = (entry.data or {}).get("source")
    if entry.kind.endswith(".lua") and isinstance(source, str):
        err = lua.syntax_error(entry.id, source)
        if err:
            return Intrinsic(Problem("LuaSyntaxError", f"Lua syntax error: {err}"))
        unknown = unknown_module((entry.data or {}).get("modules") or [])
        if unknown:
            return Intrinsic(Problem("UnknownModule", unknown))
        method = (entry.data or {}).get("method")
        missing = missing_method(source, method) if isinstance(method, str) else None
        if missing:
            return Intrinsic(Problem("MissingMethod", missing))
    warnings: tuple[str, ...] = ()
    if entry.kind in LUA_KINDS and isinstance(source, str):
        # type errors stop the entry before any pod tries it; imported libraries are other
        # objects, any here: linked_lint checks against their types where references resolve
        data = entry.data or {}
        diags = lint_source(source, entry.id, kind=entry.kind, modules=data.get("modules") or (),
                            imports=data.get("imports") or {}, rules=True, method=data.get("method"))
        failed = _lint_failed(entry.id, diags)
        if failed:
            return Intrinsic(failed)
        warnings = tuple(f"{entry.id}:{d.line}: {d.code} {d.message}" for d in diags)
    return Intrinsic(None, frozenset(r for r in entry_references(entry) if not r.startswith(BUILTIN_NS + ":")),
                     warnings)


def missing_method(source: str, method: str) -> str | None:
    """Why `method` cannot be called: the chunk ends returning a table constructor without it. A
    chunk returning anything else (a function, a table built step by step) is the pod's to run."""
    try:
        body = parse(source).body.stmts
    except (LuaSyntaxError, RecursionError):
        return None
    last = body[-1] if body else None
    if not (isinstance(last, A.Return) and len(last.exprs) == 1 and isinstance(last.exprs[0], A.Table)):
        return None
    names = set()
    for item in last.exprs[0].items:
        if item.kind == "pos":
            continue
        if not isinstance(item.key, A.String):
            return None   # a computed key may be the method
        names.add(item.key.value)
    if method in names:
        return None
    has = ", ".join(sorted(names)) or "no named fields"
    return f"method {method!r} is not in the table the code returns (it has {has})"


def _lint_failed(entry: str, diags: list) -> Problem | None:
    errors = [f"{entry}:{d.line}: {d.code} {d.message}" for d in diags if d.severity == "error"]
    if not errors:
        return None
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return Problem("LintFailed", "; ".join(errors[:3]) + more)


LINKED_FIELDS = ("source", "modules", "imports", "method")


def imported_ids(entry_id: str, spec: dict) -> set[str]:
    """Full ids of the libraries an entry's spec imports (a bare name is in the entry's namespace)."""
    ns = entry_id.rpartition(":")[0]
    imports = spec.get("imports")
    if not isinstance(imports, dict):
        return set()
    ids = set()
    for target in imports.values():
        try:
            ids.add(resolve_ref(str(target), ns))
        except InvalidEntryId:
            pass   # the model's validation reports it
    return ids


def linked_lint(entry_id: str, kind: str, spec: dict, libraries: dict[str, dict]) -> Problem | None:
    """Type errors of an entry checked against the libraries it imports (their specs by id), which
    the intrinsic check cannot see: a call with the wrong argument types, a misused exported type."""
    source = spec.get("source")
    if kind not in LUA_KINDS or not isinstance(source, str):
        return None
    libs = {i: {k: s.get(k) for k in LINKED_FIELDS if s.get(k) is not None} for i, s in libraries.items()}
    diags = lint_source(source, entry_id, kind=kind, modules=spec.get("modules") or (),
                        imports=spec.get("imports") or {}, method=spec.get("method"), libraries=libs)
    return _lint_failed(entry_id, diags)


def missing_references(missing: set[str], where: str) -> Problem:
    return Problem("MissingReference", f"references {', '.join(sorted(missing))}, not an entry of {where}")

