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
    scope: object           # the type scope it was declared in


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
    k = type(t)
    if k is Lit:
        p = _lit_prim(t.value)
        return "number" if p == "integer" else p
    if k is Prim:
        return {"integer": "number", "error": None, "any": None, "unknown": None, "never": None}.get(t.name, t.name)
    if k in (Arr, Map, Rec, TypeVal):
        return "table"
    if k is Fn:
        return "function"
    return None


def assignable(src: T, dst: T, depth: int = 0) -> bool:
    if src is dst or depth > 30:
        return True
    ks, kd = type(src), type(dst)
    if kd is Prim and dst.name in ("any", "unknown"):
        return True
    if ks is Prim:
        if src.name in ("any", "never"):
            return True
    if kd is TVar or ks is TVar:
        if ks is TVar and src.constraint is not None and kd is not TVar:
            return assignable(src.constraint, dst, depth + 1)
        return True
    if ks is Union:
        return all(assignable(m, dst, depth + 1) for m in src.members)
    if kd is Union:
        return any(assignable(src, m, depth + 1) for m in dst.members)
    if ks is Prim and src.name == "unknown":
        return False
    if kd is Prim:
        d = dst.name
        if d == "error":
            return ks is not Prim or src.name not in ("nil", "boolean", "number", "integer")
        if ks is Prim:
            return src.name == d or (src.name == "integer" and d == "number") or (d == "table" and src.name == "error")
        if ks is Lit:
            p = _lit_prim(src.value)
            return p == d or (p == "integer" and d == "number")
        if d == "table":
            return ks in (Arr, Map, Rec, TypeVal)
        if d == "function":
            return ks is Fn or ks is TypeVal
        return False
    if kd is Lit:
        return ks is Lit and src.value == dst.value and type(src.value) is type(dst.value) or \
            (ks is Lit and isinstance(src.value, (int, float)) and not isinstance(src.value, bool)
             and not isinstance(dst.value, bool) and src.value == dst.value)
    if ks is Prim and src.name == "table" and kd in (Arr, Map, Rec):
        return True
    if ks is Prim and src.name == "function" and kd is Fn:
        return True
    if kd is Arr:
        if ks is Arr:
            return assignable(src.elem, dst.elem, depth + 1)
        if ks is Rec:
            return not src.fields
        return False
    if kd is Map:
        if ks is Map:
            return assignable(src.key, dst.key, depth + 1) and assignable(src.val, dst.val, depth + 1)
        if ks is Arr:
            return assignable(INTEGER, dst.key, depth + 1) and assignable(src.elem, dst.val, depth + 1)
        if ks is Rec:
            return all(assignable(ft, dst.val, depth + 1) for ft, _o in src.fields.values()) and \
                (not src.fields or assignable(STRING, dst.key, depth + 1))
        return False
    if kd is Rec:
        if ks is Rec:
            return missing_field(src, dst, depth) is None
        if ks is Arr:
            return not any(not o for _t, o in dst.fields.values())
        return False
    if kd is Fn:
        if ks is Fn:
            if dst.rets is not None and src.rets is not None:
                for i, r in enumerate(dst.rets):
                    if i < len(src.rets) and not assignable(src.rets[i], r, depth + 1):
                        return False
            return True
        return ks is TypeVal
    if kd is TypeVal:
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
    k = type(t)
    if k is Prim:
        return t.name
    if k is Lit:
        if isinstance(t.value, str):
            return '"' + t.value + '"'
        if isinstance(t.value, bool):
            return "true" if t.value else "false"
        return str(t.value)
    if k is Union:
        ms = [m for m in t.members if m != NIL]
        if len(ms) == len(t.members) - 1:
            inner = show(ms[0], depth + 1) if len(ms) == 1 else "(" + " | ".join(show(m, depth + 1) for m in ms) + ")"
            return inner + "?"
        return " | ".join(show(m, depth + 1) for m in t.members)
    if k is Arr:
        return "{" + show(t.elem, depth + 1) + "}"
    if k is Map:
        return "{[" + show(t.key, depth + 1) + "]: " + show(t.val, depth + 1) + "}"
    if k is Rec:
        if t.name:
            return t.name
        return "{" + ", ".join(f"{n}{'?' if o else ''}: {show(ft, depth + 1)}" for n, (ft, o) in t.fields.items()) + "}"
    if k is Fn:
        if t.name:
            return t.name
        ps = ", ".join(show(p[1], depth + 1) for p in t.params)
        rs = "..." if t.rets is None else ", ".join(show(r, depth + 1) for r in t.rets)
        return f"({ps}) -> ({rs})"
    if k is TVar:
        return t.name
    if k is TypeVal:
        return "type " + (t.name or show(t.of, depth + 1))
    if k is Generic:
        return t.name
    return "?"
