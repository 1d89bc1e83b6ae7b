"""Evaluation of parsed expressions with expr-lang's semantics.

Numbers: `/` always divides as floats, `%` needs integers, `**`/`^` give floats, integer
arithmetic stays integer. Arrays are indexed from 0 (negative indexes count from the end).
Every evaluation runs under a step budget and size caps, so hostile expressions end with an
error instead of holding the event loop.
"""
from __future__ import annotations

import json
import math
import re
import base64
from functools import lru_cache
from typing import Any, Callable

from .parser import PREDICATE_FUNCS, parse

MAX_STEPS = 100_000          # evaluation steps per run (about 0.1 s: evaluation runs on the loop)
MAX_ITEMS = 100_000          # longest range an expression may build


class ExprRuntimeError(ValueError):
    pass


_MISSING = object()


def type_name(v: Any) -> str:
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "map"
    return type(v).__name__


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _truthy(v: Any, what: str) -> bool:
    if not isinstance(v, bool):
        raise ExprRuntimeError(f"{what}: expected bool, got {type_name(v)}")
    return v


def _equal(a: Any, b: Any) -> bool:
    if _is_num(a) and _is_num(b):
        return a == b
    if type(a) is not type(b):
        # an empty Lua table arrives as [] and may stand for an empty map
        if isinstance(a, (list, dict)) and isinstance(b, (list, dict)) and not a and not b:
            return True
        return False
    return a == b


@lru_cache(maxsize=256)
def _regex(pattern: str):
    try:
        return re.compile(pattern)
    except re.error as e:
        raise ExprRuntimeError(f"invalid regular expression {pattern!r}: {e}") from None


class Evaluator:
    def __init__(self, env: dict):
        self.env = env
        self.steps = 0
        self.frames: list[dict] = []   # predicate frames: {"#": item, "index": i, "acc": a}

    def tick(self, n: int = 1) -> None:
        self.steps += n
        if self.steps > MAX_STEPS:
            raise ExprRuntimeError(f"expression exceeded {MAX_STEPS} evaluation steps")

    # ------------------------------------------------------------------ nodes
    def eval(self, node) -> Any:
        self.tick()
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "name":
            name = node[1]
            if name in self.env:
                return self.env[name]
            if name in ("$env",):
                return self.env
            return None
        if kind == "binary":
            return self.binary(node[1], node[2], node[3])
        if kind == "unary":
            v = self.eval(node[2])
            if node[1] == "!":
                return not _truthy(v, "operator !")
            if not _is_num(v):
                raise ExprRuntimeError(f"invalid operation: {node[1]}{type_name(v)}")
            return -v if node[1] == "-" else v
        if kind == "cond":
            return self.eval(node[2]) if _truthy(self.eval(node[1]), "ternary condition") else self.eval(node[3])
        if kind == "elvis":
            v = self.eval(node[1])
            return v if v not in (None, False, 0, "") else self.eval(node[2])
        if kind == "member":
            obj = self.eval(node[1])
            key = self.eval(node[2])
            return self.member(obj, key, node[3])
        if kind == "slice":
            return self.slice(self.eval(node[1]), node[2], node[3])
        if kind == "array":
            return [self.eval(x) for x in node[1]]
        if kind == "map":
            out = {}
            for k, v in node[1]:
                key = self.eval(k)
                if not isinstance(key, (str, int, float, bool)):
                    raise ExprRuntimeError(f"a map key cannot be {type_name(key)}")
                out[key] = self.eval(v)
            return out
        if kind == "call":
            return self.call(node[1], node[2])
        if kind == "method":
            obj = self.eval(node[1])
            fn = self.member(obj, node[2], False)
            raise ExprRuntimeError(f"{node[2]} is not a function (it is {type_name(fn)})")
        if kind == "pointer":
            if not self.frames:
                raise ExprRuntimeError("'#' used outside of a predicate")
            return self.frames[-1]["#"]
        if kind == "pointer_var":
            if not self.frames:
                raise ExprRuntimeError(f"'#{node[1]}' used outside of a predicate")
            return self.frames[-1].get(node[1])
        if kind == "closure":
            return self.eval(node[1])
        raise ExprRuntimeError(f"unknown node {kind}")

    def member(self, obj: Any, key: Any, optional: bool) -> Any:
        if obj is None:
            if optional:
                return None
            raise ExprRuntimeError(f"cannot fetch {key} from nil")
        if isinstance(obj, dict):
            if key in obj:
                return obj[key]
            if isinstance(key, float) and key.is_integer() and int(key) in obj:
                return obj[int(key)]
            if not obj and isinstance(key, str):
                return None
            return None
        if isinstance(obj, (list, str)):
            if isinstance(obj, list) and not obj and isinstance(key, str):
                return None   # an empty Lua table: an empty map as well
            if not isinstance(key, int) or isinstance(key, bool):
                raise ExprRuntimeError(f"cannot fetch {key!r} from {type_name(obj)} (index must be int)")
            n = len(obj)
            i = key + n if key < 0 else key
            if i < 0 or i >= n:
                raise ExprRuntimeError(f"index out of range: {key} (array of length {n})")
            return obj[i]
        raise ExprRuntimeError(f"cannot fetch {key} from {type_name(obj)}")

    def slice(self, obj: Any, lo_node, hi_node) -> Any:
        if not isinstance(obj, (list, str)):
            raise ExprRuntimeError(f"cannot slice {type_name(obj)}")
        n = len(obj)
        lo = 0 if lo_node is None else self.eval(lo_node)
        hi = n if hi_node is None else self.eval(hi_node)
        if not isinstance(lo, int) or not isinstance(hi, int):
            raise ExprRuntimeError("slice bounds must be int")
        lo = max(0, lo + n if lo < 0 else lo)
        hi = min(n, hi + n if hi < 0 else hi)
        return obj[lo:hi] if lo < hi else obj[0:0]

    # ------------------------------------------------------------------ operators
    def binary(self, op: str, an, bn) -> Any:
        if op in ("and", "&&"):
            return _truthy(self.eval(an), f"operator {op}") and _truthy(self.eval(bn), f"operator {op}")
        if op in ("or", "||"):
            return _truthy(self.eval(an), f"operator {op}") or _truthy(self.eval(bn), f"operator {op}")
        if op == "??":
            a = self.eval(an)
            return a if a is not None else self.eval(bn)
        a, b = self.eval(an), self.eval(bn)
        if op == "==":
            return _equal(a, b)
        if op == "!=":
            return not _equal(a, b)
        if op in ("in", "not in"):
            r = self.contains_item(b, a)
            return r if op == "in" else not r
        if op in ("contains", "startsWith", "endsWith", "matches"):
            if not isinstance(a, str) or not isinstance(b, str):
                raise ExprRuntimeError(f"invalid operation: {type_name(a)} {op} {type_name(b)}")
            if op == "contains":
                return b in a
            if op == "startsWith":
                return a.startswith(b)
            if op == "endsWith":
                return a.endswith(b)
            return _regex(b).search(a) is not None
        if op == "..":
            if not isinstance(a, int) or not isinstance(b, int) or isinstance(a, bool) or isinstance(b, bool):
                raise ExprRuntimeError(f"invalid operation: {type_name(a)} .. {type_name(b)}")
            if b - a + 1 > MAX_ITEMS:
                raise ExprRuntimeError(f"range longer than {MAX_ITEMS} items")
            self.tick(max(0, b - a + 1))
            return list(range(a, b + 1))
        if op in ("<", ">", "<=", ">="):
            if not ((_is_num(a) and _is_num(b)) or (isinstance(a, str) and isinstance(b, str))):
                raise ExprRuntimeError(f"invalid operation: {type_name(a)} {op} {type_name(b)}")
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        if op == "+":
            if isinstance(a, str) and isinstance(b, str):
                self.check_size(len(a) + len(b))
                return a + b
            if isinstance(a, list) and isinstance(b, list):
                self.check_size(len(a) + len(b))
                return a + b
        if not (_is_num(a) and _is_num(b)):
            raise ExprRuntimeError(f"invalid operation: {type_name(a)} {op} {type_name(b)}")
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                if a == 0 or isinstance(a, float) and math.isnan(a):
                    return math.nan
                return math.copysign(math.inf, a) * (1 if b >= 0 else -1)
            return a / b
        if op == "%":
            if not isinstance(a, int) or not isinstance(b, int):
                raise ExprRuntimeError(f"invalid operation: {type_name(a)} % {type_name(b)} (integers only)")
            if b == 0:
                raise ExprRuntimeError("integer divide by zero")
            rem = abs(a) % abs(b)       # Go's remainder takes the sign of the dividend
            return -rem if a < 0 else rem
        if op in ("**", "^"):
            try:
                return float(a) ** float(b)
            except (OverflowError, ZeroDivisionError):
                return math.inf
            except ValueError:
                return math.nan
        raise ExprRuntimeError(f"unknown operator {op}")

    def check_size(self, n: int) -> None:
        if n > MAX_ITEMS * 16:
            raise ExprRuntimeError("value too large")
        self.tick(n // 64)

    def contains_item(self, container: Any, item: Any) -> bool:
        if isinstance(container, dict):
            return item in container if isinstance(item, (str, int, float, bool)) else False
        if isinstance(container, list):
            self.tick(len(container))
            return any(_equal(item, x) for x in container)
        if container is None:
            return False
        raise ExprRuntimeError(f"invalid operation: {type_name(item)} in {type_name(container)}")

    # ------------------------------------------------------------------ functions
    def call(self, name: str, arg_nodes: list) -> Any:
        if name in PREDICATE_FUNCS and len(arg_nodes) >= 2 and arg_nodes[1][0] == "closure" \
                and _uses_pointer(arg_nodes[1]):
            return self.predicate_call(name, arg_nodes)
        fn = BUILTINS.get(name)
        if fn is None:
            target = self.env.get(name, _MISSING)
            if target is _MISSING:
                raise ExprRuntimeError(f"unknown function {name}")
            raise ExprRuntimeError(f"{name} is not a function (it is {type_name(target)})")
        args = [self.eval(a) for a in arg_nodes]
        try:
            return fn(self, *args)
        except TypeError as e:
            raise ExprRuntimeError(f"{name}: {e}") from None

    def predicate_call(self, name: str, arg_nodes: list) -> Any:
        items = self.eval(arg_nodes[0])
        if isinstance(items, dict) and not items:
            items = []
        if not isinstance(items, list):
            raise ExprRuntimeError(f"{name}: expected array, got {type_name(items)}")
        body = arg_nodes[1]
        self.tick(len(items))

        def run(item, index, acc=None):
            self.frames.append({"#": item, "index": index, "acc": acc})
            try:
                return self.eval(body)
            finally:
                self.frames.pop()

        if name == "all":
            return all(_truthy(run(x, i), name) for i, x in enumerate(items))
        if name == "any":
            return any(_truthy(run(x, i), name) for i, x in enumerate(items))
        if name == "none":
            return not any(_truthy(run(x, i), name) for i, x in enumerate(items))
        if name == "one":
            return sum(1 for i, x in enumerate(items) if _truthy(run(x, i), name)) == 1
        if name == "filter":
            return [x for i, x in enumerate(items) if _truthy(run(x, i), name)]
        if name == "map":
            return [run(x, i) for i, x in enumerate(items)]
        if name == "count":
            return sum(1 for i, x in enumerate(items) if _truthy(run(x, i), name))
        if name in ("find", "findIndex"):
            for i, x in enumerate(items):
                if _truthy(run(x, i), name):
                    return x if name == "find" else i
            return None if name == "find" else -1
        if name in ("findLast", "findLastIndex"):
            for i in range(len(items) - 1, -1, -1):
                if _truthy(run(items[i], i), name):
                    return items[i] if name == "findLast" else i
            return None if name == "findLast" else -1
        if name == "sum":
            return _sum([run(x, i) for i, x in enumerate(items)])
        if name == "mean":
            vals = [run(x, i) for i, x in enumerate(items)]
            return _sum(vals) / len(vals) if vals else 0.0
        if name == "groupBy":
            out: dict = {}
            for i, x in enumerate(items):
                out.setdefault(run(x, i), []).append(x)
            return out
        if name == "sortBy":
            order = self.eval(arg_nodes[2]) if len(arg_nodes) > 2 else "asc"
            keyed = [(run(x, i), x) for i, x in enumerate(items)]
            keyed.sort(key=lambda kv: kv[0], reverse=order == "desc")
            return [x for _, x in keyed]
        if name == "reduce":
            acc = self.eval(arg_nodes[2]) if len(arg_nodes) > 2 else None
            start = 0
            if len(arg_nodes) <= 2:
                if not items:
                    raise ExprRuntimeError("reduce of empty array with no initial value")
                acc, start = items[0], 1
            for i in range(start, len(items)):
                acc = run(items[i], i, acc)
            return acc
        raise ExprRuntimeError(f"unknown function {name}")


def _uses_pointer(node) -> bool:
    if not isinstance(node, tuple):
        return False
    if node[0] in ("pointer", "pointer_var"):
        return True
    if node[0] == "call" and node[1] in PREDICATE_FUNCS:
        return _uses_pointer(node[2][0]) if node[2] else False   # inner predicates have their own #
    return any(_uses_pointer(p) if isinstance(p, tuple) else
               any(_uses_pointer(x) for x in p) if isinstance(p, list) else False for p in node[1:])


def _sum(vals: list) -> Any:
    total: Any = 0
    for v in vals:
        if not _is_num(v):
            raise ExprRuntimeError(f"sum: expected numbers, got {type_name(v)}")
        total += v
    return total


def _nums(name: str, args: tuple) -> list:
    vals = list(args[0]) if len(args) == 1 and isinstance(args[0], list) else list(args)
    if not vals:
        raise ExprRuntimeError(f"{name}: no values")
    for v in vals:
        if not _is_num(v):
            raise ExprRuntimeError(f"{name}: expected numbers, got {type_name(v)}")
    return vals


def _str(name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ExprRuntimeError(f"{name}: expected string, got {type_name(v)}")
    return v


def _len(ev, v):
    if isinstance(v, (str, list, dict)):
        return len(v)
    raise ExprRuntimeError(f"len: invalid argument of type {type_name(v)}")


def _int(ev, v):
    if isinstance(v, bool):
        raise ExprRuntimeError("int: cannot convert bool")
    if isinstance(v, (int, float)):
        return int(v)
    if isinstance(v, str):
        try:
            return int(v.strip())
        except ValueError:
            raise ExprRuntimeError(f"int: cannot parse {v!r}") from None
    raise ExprRuntimeError(f"int: cannot convert {type_name(v)}")


def _float(ev, v):
    if isinstance(v, bool):
        raise ExprRuntimeError("float: cannot convert bool")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            raise ExprRuntimeError(f"float: cannot parse {v!r}") from None
    raise ExprRuntimeError(f"float: cannot convert {type_name(v)}")


def _string(ev, v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "<nil>"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"), sort_keys=True)
    return str(v)


def _repeat(ev, s, n):
    _str("repeat", s)
    if not isinstance(n, int) or n < 0:
        raise ExprRuntimeError("repeat: count must be a non-negative int")
    ev.check_size(len(s) * n)
    return s * n


def _round(ev, v):
    _nums("round", (v,))
    return float(math.floor(abs(v) + 0.5) * (1 if v >= 0 else -1))


def _sorted(ev, arr, order="asc"):
    if not isinstance(arr, list):
        raise ExprRuntimeError(f"sort: expected array, got {type_name(arr)}")
    try:
        return sorted(arr, reverse=order == "desc")
    except TypeError:
        raise ExprRuntimeError("sort: values are not comparable") from None


def _uniq(ev, arr):
    out: list = []
    for x in arr:
        if not any(_equal(x, y) for y in out):
            out.append(x)
    return out


def _flatten(ev, arr):
    out: list = []

    def walk(v):
        for x in v:
            if isinstance(x, list):
                walk(x)
            else:
                out.append(x)
    walk(arr)
    return out


def _from_json(ev, s):
    try:
        return json.loads(_str("fromJSON", s))
    except json.JSONDecodeError as e:
        raise ExprRuntimeError(f"fromJSON: {e}") from None


def _from_base64(ev, s):
    try:
        return base64.b64decode(_str("fromBase64", s), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as e:
        raise ExprRuntimeError(f"fromBase64: {e}") from None


def _median(ev, *args):
    vals = sorted(_nums("median", args))
    n = len(vals)
    return float(vals[n // 2]) if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


BUILTINS: dict[str, Callable[..., Any]] = {
    "len": _len,
    "abs": lambda ev, v: abs(_nums("abs", (v,))[0]),
    "ceil": lambda ev, v: float(math.ceil(_nums("ceil", (v,))[0])),
    "floor": lambda ev, v: float(math.floor(_nums("floor", (v,))[0])),
    "round": _round,
    "max": lambda ev, *a: max(_nums("max", a)),
    "min": lambda ev, *a: min(_nums("min", a)),
    "sum": lambda ev, arr: _sum(arr if isinstance(arr, list) else [arr]),
    "mean": lambda ev, *a: _sum(_nums("mean", a)) / len(_nums("mean", a)),
    "median": _median,
    "int": _int,
    "float": _float,
    "string": _string,
    "type": lambda ev, v: type_name(v),
    "upper": lambda ev, s: _str("upper", s).upper(),
    "lower": lambda ev, s: _str("lower", s).lower(),
    "trim": lambda ev, s, chars=None: _str("trim", s).strip(chars) if chars is not None else _str("trim", s).strip(),
    "trimPrefix": lambda ev, s, p: _str("trimPrefix", s)[len(p):] if s.startswith(_str("trimPrefix", p)) else s,
    "trimSuffix": lambda ev, s, p: _str("trimSuffix", s)[:len(s) - len(p)] if p and s.endswith(_str("trimSuffix", p)) else s,
    "split": lambda ev, s, sep: _str("split", s).split(_str("split", sep)) if sep else list(s),
    "join": lambda ev, arr, sep="": _str("join", sep).join(_str("join", x) for x in arr),
    "replace": lambda ev, s, old, new: _str("replace", s).replace(_str("replace", old), _str("replace", new)),
    "repeat": _repeat,
    "indexOf": lambda ev, s, sub: _str("indexOf", s).find(_str("indexOf", sub)),
    "lastIndexOf": lambda ev, s, sub: _str("lastIndexOf", s).rfind(_str("lastIndexOf", sub)),
    "hasPrefix": lambda ev, s, p: _str("hasPrefix", s).startswith(_str("hasPrefix", p)),
    "hasSuffix": lambda ev, s, p: _str("hasSuffix", s).endswith(_str("hasSuffix", p)),
    "keys": lambda ev, m: list(m.keys()) if isinstance(m, dict) else [] if m == [] else _bad("keys", m),
    "values": lambda ev, m: list(m.values()) if isinstance(m, dict) else [] if m == [] else _bad("values", m),
    "first": lambda ev, arr: arr[0] if arr else None,
    "last": lambda ev, arr: arr[-1] if arr else None,
    "sort": _sorted,
    "reverse": lambda ev, arr: list(reversed(arr)),
    "uniq": _uniq,
    "concat": lambda ev, *arrs: [x for a in arrs for x in a],
    "flatten": _flatten,
    "toJSON": lambda ev, v: json.dumps(v, sort_keys=True, indent=2),
    "fromJSON": _from_json,
    "toBase64": lambda ev, s: base64.b64encode(_str("toBase64", s).encode()).decode(),
    "fromBase64": _from_base64,
    "get": lambda ev, obj, key: _get(obj, key),
}


def _bad(name: str, v: Any):
    raise ExprRuntimeError(f"{name}: expected map, got {type_name(v)}")


def _get(obj: Any, key: Any) -> Any:
    if isinstance(obj, dict):
        return obj.get(key)
    if isinstance(obj, list) and isinstance(key, int):
        n = len(obj)
        i = key + n if key < 0 else key
        return obj[i] if 0 <= i < n else None
    return None


def run(tree, env: dict | None) -> Any:
    return Evaluator(env or {}).eval(tree)


def evaluate(src: str, env: dict | None = None) -> Any:
    return run(parse(src), env)
