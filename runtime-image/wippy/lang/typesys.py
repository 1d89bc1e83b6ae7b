"""The checker's view of types: small immutable values, subtyping (`assignable`) and display.

Gradual: `any` flows both ways; `unknown` accepts everything but must be narrowed before it is
used as something concrete. Nil safety: `T?` is `T | nil`, and only a narrowed value loses its nil.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional


class T:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Prim(T):
    name: str


@dataclass(frozen=True, slots=True)
class Lit(T):
    value: object


@dataclass(frozen=True, slots=True)
class Union(T):
    members: tuple


@dataclass(frozen=True, slots=True)
class Arr(T):
    elem: T


@dataclass(frozen=True, slots=True)
class Map(T):
    key: T
    val: T


@dataclass(eq=False, slots=True)
class Rec(T):
    """A record. `open` records (table literals without annotation) accept unknown fields."""
    fields: dict            # name -> (type, optional)
    name: Optional[str] = None
    open: bool = False


@dataclass(eq=False, slots=True)
class Fn(T):
    params: list            # [(name, type, optional)]
    rets: Optional[list]    # None: not declared (any number of anything)
    variadic: Optional[T] = None
    generics: list = field(default_factory=list)   # [(name, constraint)]
    ret_variadic: Optional[T] = None
    name: Optional[str] = None
    method: bool = False    # declared with ':' (self first)
    dual: bool = False      # takes the same arguments called as `m.f(...)` or `m:f(...)` (signatures.DUAL_CALL)


@dataclass(frozen=True, slots=True)
class TVar(T):
    name: str
    constraint: Optional[T] = None


@dataclass(eq=False, slots=True)
class TypeVal(T):
    """A type used as a value: `User`, `Number`; calling it validates."""
    of: T
    name: Optional[str] = None


@dataclass(eq=False, slots=True)
class Generic(T):
    """A generic type declaration `type R<T, E> = ...` (instantiated by the checker)."""
    name: str
    params: list
    body: object            # AST type node
    scope: list[dict]       # the type scopes it was declared in (set right after it is made)


ANY, UNKNOWN, NIL, NEVER = Prim("any"), Prim("unknown"), Prim("nil"), Prim("never")
NUMBER, INTEGER, STRING, BOOLEAN = Prim("number"), Prim("integer"), Prim("string"), Prim("boolean")
TABLE, FUNCTION, THREAD, USERDATA, ERROR = Prim("table"), Prim("function"), Prim("thread"), Prim("userdata"), Prim("error")
PRIMS = {p.name: p for p in (ANY, UNKNOWN, NIL, NEVER, NUMBER, INTEGER, STRING, BOOLEAN, TABLE, FUNCTION,
                             THREAD, USERDATA, ERROR)}


def union(*ts: T) -> T:
    out: list = []
    for t in ts:
        for m in (t.members if type(t) is Union else (t,)):
            if m is ANY:
                return ANY
            if m is NEVER or m == NEVER:
                continue
            if any(m is o or (type(m) is not Rec and type(m) is not Fn and m == o) for o in out):
                continue
            out.append(m)
    if not out:
        return NEVER
    if len(out) == 1:
        return out[0]
    # literals absorbed by their primitive
    prims = {m.name for m in out if type(m) is Prim}
    if prims:
        out = [m for m in out if not (type(m) is Lit and _lit_prim(m.value) in prims)]
        if "number" in prims:
            out = [m for m in out if m != INTEGER and not (type(m) is Lit and _lit_prim(m.value) == "number")]
        if len(out) == 1:
            return out[0]
    return Union(tuple(out))


def optional(t: T) -> T:
    return union(t, NIL)


def members(t: T) -> tuple:
    return t.members if type(t) is Union else (t,)


def is_nilable(t: T) -> bool:
    return any(m == NIL for m in members(t))


def nonnil(t: T) -> T:
    if type(t) is not Union:
        return NEVER if t == NIL else t
    return union(*(m for m in t.members if m != NIL))


def truthy(t: T) -> T:
    return union(*(m for m in members(t) if m != NIL and not (type(m) is Lit and m.value is False)))


def falsy(t: T) -> T:
    out = []
    for m in members(t):
        if m == NIL or (type(m) is Lit and m.value is False):
            out.append(m)
        elif m == BOOLEAN:
            out.append(Lit(False))
        elif m in (ANY, UNKNOWN):
            out.append(m)
    return union(*out) if out else NEVER


def _lit_prim(v) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "nil"


def widen(t: T) -> T:
    """The type a variable gets from a literal initialiser: `1` -> integer, `"a"` -> string."""
    if type(t) is Lit:
        return PRIMS[_lit_prim(t.value)]
    if type(t) is Union:
        return union(*(widen(m) for m in t.members))
    return t


def lua_type_name(t: T) -> Optional[str]:
    """What Lua's type() says of values of t (None: it depends)."""
    if isinstance(t, Lit):
        p = _lit_prim(t.value)
        return "number" if p == "integer" else p
    if isinstance(t, Prim):
        return {"integer": "number", "error": None, "any": None, "unknown": None, "never": None}.get(t.name, t.name)
    if isinstance(t, (Arr, Map, Rec, TypeVal)):
        return "table"
    if isinstance(t, Fn):
        return "function"
    return None


# The T classes are final (none subclasses another): isinstance is an exact type test here.
def assignable(src: T, dst: T, depth: int = 0) -> bool:
    if src is dst or depth > 30:
        return True
    ks = type(src)
    if isinstance(dst, Prim) and dst.name in ("any", "unknown"):
        return True
    if isinstance(src, Prim):
        if src.name in ("any", "never"):
            return True
    if isinstance(dst, TVar) or isinstance(src, TVar):
        if isinstance(src, TVar) and src.constraint is not None and not isinstance(dst, TVar):
            return assignable(src.constraint, dst, depth + 1)
        return True
    if isinstance(src, Union):
        return all(assignable(m, dst, depth + 1) for m in src.members)
    if isinstance(dst, Union):
        return any(assignable(src, m, depth + 1) for m in dst.members)
    if isinstance(src, Prim) and src.name == "unknown":
        return False
    if isinstance(dst, Prim):
        d = dst.name
        if d == "error":
            return not isinstance(src, Prim) or src.name not in ("nil", "boolean", "number", "integer")
        if isinstance(src, Prim):
            return src.name == d or (src.name == "integer" and d == "number") or (d == "table" and src.name == "error")
        if isinstance(src, Lit):
            p = _lit_prim(src.value)
            return p == d or (p == "integer" and d == "number")
        if d == "table":
            return ks in (Arr, Map, Rec, TypeVal)
        if d == "function":
            return ks is Fn or ks is TypeVal
        return False
    if isinstance(dst, Lit):
        return isinstance(src, Lit) and src.value == dst.value and type(src.value) is type(dst.value) or \
            (isinstance(src, Lit) and isinstance(src.value, (int, float)) and not isinstance(src.value, bool)
             and not isinstance(dst.value, bool) and src.value == dst.value)
    if isinstance(src, Prim) and src.name == "table" and isinstance(dst, (Arr, Map, Rec)):
        return True
    if isinstance(src, Prim) and src.name == "function" and isinstance(dst, Fn):
        return True
    if isinstance(dst, Arr):
        if isinstance(src, Arr):
            return assignable(src.elem, dst.elem, depth + 1)
        if isinstance(src, Rec):
            return not src.fields
        return False
    if isinstance(dst, Map):
        if isinstance(src, Map):
            return assignable(src.key, dst.key, depth + 1) and assignable(src.val, dst.val, depth + 1)
        if isinstance(src, Arr):
            return assignable(INTEGER, dst.key, depth + 1) and assignable(src.elem, dst.val, depth + 1)
        if isinstance(src, Rec):
            return all(assignable(ft, dst.val, depth + 1) for ft, _o in src.fields.values()) and \
                (not src.fields or assignable(STRING, dst.key, depth + 1))
        return False
    if isinstance(dst, Rec):
        if isinstance(src, Rec):
            return missing_field(src, dst, depth) is None
        if isinstance(src, Arr):
            return not any(not o for _t, o in dst.fields.values())
        return False
    if isinstance(dst, Fn):
        if isinstance(src, Fn):
            if src.method == dst.method:
                # parameters are contravariant: the function must take what its callers pass
                for i, (_n, dt, _o) in enumerate(dst.params):
                    if i < len(src.params) and not assignable(dt, src.params[i][1], depth + 1):
                        return False
            if dst.rets is not None and src.rets is not None:
                for i, r in enumerate(dst.rets):
                    if i < len(src.rets) and not assignable(src.rets[i], r, depth + 1):
                        return False
            return True
        return ks is TypeVal
    if isinstance(dst, TypeVal):
        return ks is TypeVal
    return False


def missing_field(src: Rec, dst: Rec, depth: int = 0) -> Optional[str]:
    """Why record src is not a dst: None when it is."""
    for name, (ft, opt) in dst.fields.items():
        got = src.fields.get(name)
        if got is None:
            if not opt and not is_nilable(ft):
                return f"missing field '{name}'"
            continue
        gt, gopt = got
        if gopt and not opt and not is_nilable(ft):
            return f"field '{name}' is optional in the source"
        if not assignable(gt, ft, depth + 1):
            return f"field '{name}': {show(gt)} not assignable to {show(ft)}"
    return None


def show(t: T, depth: int = 0) -> str:
    if depth > 4:
        return "..."
    if isinstance(t, Prim):
        return t.name
    if isinstance(t, Lit):
        if isinstance(t.value, str):
            return '"' + t.value + '"'
        if isinstance(t.value, bool):
            return "true" if t.value else "false"
        return str(t.value)
    if isinstance(t, Union):
        ms = [m for m in t.members if m != NIL]
        if len(ms) == len(t.members) - 1:
            inner = show(ms[0], depth + 1) if len(ms) == 1 else "(" + " | ".join(show(m, depth + 1) for m in ms) + ")"
            return inner + "?"
        return " | ".join(show(m, depth + 1) for m in t.members)
    if isinstance(t, Arr):
        return "{" + show(t.elem, depth + 1) + "}"
    if isinstance(t, Map):
        return "{[" + show(t.key, depth + 1) + "]: " + show(t.val, depth + 1) + "}"
    if isinstance(t, Rec):
        if t.name:
            return t.name
        return "{" + ", ".join(f"{n}{'?' if o else ''}: {show(ft, depth + 1)}" for n, (ft, o) in t.fields.items()) + "}"
    if isinstance(t, Fn):
        if t.name:
            return t.name
        ps = ", ".join(show(p[1], depth + 1) for p in t.params)
        rs = "..." if t.rets is None else ", ".join(show(r, depth + 1) for r in t.rets)
        return f"({ps}) -> ({rs})"
    if isinstance(t, TVar):
        return t.name
    if isinstance(t, TypeVal):
        return "type " + (t.name or show(t.of, depth + 1))
    if isinstance(t, Generic):
        return t.name
    return "?"
