"""Rendering parsed Jet templates with Lua data (dicts, lists, strings, numbers, booleans).

Output of `{{ expr }}` is HTML-escaped (Jet's default escaper) unless passed through `raw`,
`unsafe` or `safeHtml`. Work is bounded (steps, output size, include/yield depth), so a
render runs inline without holding the loop for long.
"""
from __future__ import annotations

import html
import json
import urllib.parse
from typing import Any, Callable, Iterable

from .parser import Parsed

MAX_STEPS = 2_000_000
MAX_OUTPUT = 64 * 1024 * 1024
MAX_DEPTH = 64


class JetRenderError(ValueError):
    pass


class _Return(Exception):
    def __init__(self, value):
        self.value = value


class Safe(str):
    """Text that is written without escaping."""


def go_string(v: Any) -> str:
    if v is None:
        return ""
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        if v != v:
            return "NaN"
        if v in (float("inf"), float("-inf")):
            return "+Inf" if v > 0 else "-Inf"
        if v.is_integer() and abs(v) < 1e21:
            return str(int(v))
        return repr(v)
    if isinstance(v, list):
        return "[" + " ".join(go_string(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{go_string(k)}:{go_string(v[k])}" for k in sorted(v, key=str)) + "]"
    return str(v)


def truthy(v: Any) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def _num(v: Any, op: str):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise JetRenderError(f"operator {op} needs numbers, got {type(v).__name__}")
    return v


class Renderer:
    """One render: `lookup(name)` returns a Parsed template of the same set."""

    def __init__(self, lookup: Callable[[str], Parsed], globals_: dict):
        self.lookup = lookup
        self.globals = globals_
        self.steps = 0
        self.size = 0
        self.depth = 0
        self.funcs = dict(BUILTINS)
        self.funcs["exec"] = self._exec

    def tick(self):
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise JetRenderError(f"template exceeded {MAX_STEPS} steps")

    def render(self, name: str, data: Any) -> str:
        tpl = self.lookup(name)
        blocks: dict = {}
        chain = []
        seen = set()
        t = tpl
        while True:
            if t.name in seen:
                raise JetRenderError(f"{t.name}: extends cycle")
            seen.add(t.name)
            chain.append(t)
            if not t.extends:
                break
            t = self.lookup(t.extends)
        # the most derived template's blocks win
        for t in reversed(chain):
            for imp in t.imports:
                blocks.update(self.lookup(imp).blocks)
            blocks.update(t.blocks)
        out: list[str] = []
        scope = [dict(data) if isinstance(data, dict) else {}]
        ctx = data
        try:
            self.exec_body(chain[-1].body, out, scope, ctx, blocks, None)
        except _Return:
            pass
        return "".join(out)

    def _exec(self, name, data=None):
        sub = Renderer(self.lookup, self.globals)
        sub.steps = self.steps
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise JetRenderError("exec nested too deeply")
            tpl = self.lookup(name)
            try:
                sub.exec_body(tpl.body, [], [dict(data) if isinstance(data, dict) else {}], data, dict(tpl.blocks), None)
            except _Return as r:
                return r.value
            return None
        finally:
            self.depth -= 1
            self.steps = sub.steps      # an exec's steps count against the whole render

    # ------------------------------------------------------------------ statements
    def write(self, out: list, s: str):
        self.size += len(s)
        if self.size > MAX_OUTPUT:
            raise JetRenderError("template output too large")
        out.append(s)

    def exec_body(self, body: list, out: list, scope: list, ctx: Any, blocks: dict, content) -> None:
        for node in body:
            self.tick()
            kind = node[0]
            if kind == "text":
                self.write(out, node[1])
            elif kind == "out":
                v = self.eval(node[1], scope, ctx)
                self.write(out, v if isinstance(v, Safe) else html.escape(go_string(v), quote=True).replace("&#x27;", "&#39;").replace("&quot;", "&#34;"))
            elif kind == "if":
                for cond, branch in node[1]:
                    if truthy(self.eval(cond, scope, ctx)):
                        self.exec_body(branch, out, scope + [{}], ctx, blocks, content)
                        break
                else:
                    if node[2] is not None:
                        self.exec_body(node[2], out, scope + [{}], ctx, blocks, content)
            elif kind == "range":
                self.exec_range(node, out, scope, ctx, blocks, content)
            elif kind == "set":
                _, name, expr, declare = node
                v = self.eval(expr, scope, ctx)
                if name == "_":
                    continue
                if declare:
                    scope[-1][name] = v
                else:
                    for frame in reversed(scope):
                        if name in frame:
                            frame[name] = v
                            break
                    else:
                        raise JetRenderError(f"assignment to undeclared variable {name}")
            elif kind == "yield":
                self.exec_yield(node, out, scope, ctx, blocks, content)
            elif kind == "yield_content":
                if content is not None:
                    body_, cscope, cctx = content
                    self.exec_body(body_, out, cscope, cctx, blocks, None)
            elif kind == "include":
                name = self.eval(node[1], scope, ctx)
                if not isinstance(name, str):
                    raise JetRenderError("include needs a template name")
                ictx = ctx if node[2] is None else self.eval(node[2], scope, ctx)
                self.depth += 1
                try:
                    if self.depth > MAX_DEPTH:
                        raise JetRenderError("include nested too deeply")
                    tpl = self.lookup(name)
                    merged = dict(blocks)
                    merged.update(tpl.blocks)
                    self.exec_body(tpl.body, out, [scope[0]] + [{}], ictx, merged, None)
                finally:
                    self.depth -= 1
            elif kind == "try":
                buf: list[str] = []
                try:
                    self.exec_body(node[1], buf, scope + [{}], ctx, blocks, content)
                    for s in buf:
                        self.write(out, s)
                except JetRenderError as e:
                    if node[3] is not None:
                        frame = {node[2]: str(e)} if node[2] else {}
                        self.exec_body(node[3], out, scope + [frame], ctx, blocks, content)
            elif kind == "return":
                raise _Return(self.eval(node[1], scope, ctx))
            else:
                raise JetRenderError(f"unknown statement {kind}")

    def exec_range(self, node, out, scope, ctx, blocks, content):
        _, key, val, expr, body, else_body = node
        seq = self.eval(expr, scope, ctx)
        if seq is None:
            seq = []
        items: Iterable[tuple[Any, Any]]
        if isinstance(seq, dict):
            items = [(k, seq[k]) for k in sorted(seq, key=lambda k: (str(type(k)), k))]
        elif isinstance(seq, list):
            items = list(enumerate(seq))
        elif isinstance(seq, int) and not isinstance(seq, bool):
            # counted, not listed: `range 1e12` ends at the step limit, not in a huge list
            items = ((i, i) for i in range(seq)) if seq > 0 else []
        else:
            raise JetRenderError(f"cannot range over {type(seq).__name__}")
        if items == []:
            if else_body is not None:
                self.exec_body(else_body, out, scope + [{}], ctx, blocks, content)
            return
        for k, v in items:
            self.tick()     # an empty body counts too
            frame = {}
            if key and val:
                frame[key], frame[val] = k, v
            elif key:
                frame[key] = k
            self.exec_body(body, out, scope + [frame], v, blocks, content)

    def exec_yield(self, node, out, scope, ctx, blocks, content):
        _, name, args, ctx_expr, content_body = node
        block = blocks.get(name)
        if block is None:
            return    # a yield with no block defined renders nothing (a layout's optional slot)
        _, _, params, body, block_content, block_ctx = block
        frame = {}
        passed = {}
        positional = []
        for pname, pexpr in args:
            if pname is not None and pexpr is not None:
                passed[pname] = self.eval(pexpr, scope, ctx)
            elif pname is not None:
                passed[pname] = self.eval(("name", pname), scope, ctx)
            else:
                positional.append(self.eval(pexpr, scope, ctx))
        for i, (pname, default) in enumerate(params):
            if pname is None:
                continue
            if pname in passed:
                frame[pname] = passed[pname]
            elif i < len(positional):
                frame[pname] = positional[i]
            elif default is not None:
                frame[pname] = self.eval(default, scope, ctx)
            else:
                frame[pname] = None
        new_ctx = ctx if ctx_expr is None else self.eval(ctx_expr, scope, ctx)
        if ctx_expr is None and block_ctx is not None:
            new_ctx = self.eval(block_ctx, scope, ctx)
        inner = (content_body, scope, ctx) if content_body is not None else \
            ((block_content, scope, ctx) if block_content is not None else content)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise JetRenderError(f"yield {name} nested too deeply")
            self.exec_body(body, out, [scope[0], frame], new_ctx, blocks, inner)
        finally:
            self.depth -= 1

    # ------------------------------------------------------------------ expressions
    def resolve(self, name: str, scope: list):
        for frame in reversed(scope):
            if name in frame:
                return frame[name]
        if name in self.globals:
            return self.globals[name]
        if name in self.funcs:
            return self.funcs[name]
        raise JetRenderError(f"identifier {name!r} not available in this context")

    def eval(self, node, scope: list, ctx: Any) -> Any:
        self.tick()
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "name":
            return self.resolve(node[1], scope)
        if kind == "dot":
            return ctx
        if kind == "field":
            obj = self.eval(node[1], scope, ctx)
            return self.field(obj, node[2])
        if kind == "index":
            obj = self.eval(node[1], scope, ctx)
            key = self.eval(node[2], scope, ctx)
            if isinstance(obj, list):
                if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(obj):
                    raise JetRenderError(f"index {key!r} out of range")
                return obj[key]
            if isinstance(obj, str):
                if not isinstance(key, int) or not 0 <= key < len(obj.encode()):
                    raise JetRenderError(f"index {key!r} out of range")
                return obj.encode()[key]
            return self.field(obj, key)
        if kind == "slice":
            obj = self.eval(node[1], scope, ctx)
            lo = 0 if node[2] is None else self.eval(node[2], scope, ctx)
            hi = len(obj) if node[3] is None else self.eval(node[3], scope, ctx)
            if not isinstance(obj, (list, str)):
                raise JetRenderError(f"cannot slice {type(obj).__name__}")
            return obj[lo:hi]
        if kind == "not":
            return not truthy(self.eval(node[1], scope, ctx))
        if kind == "neg":
            return -_num(self.eval(node[1], scope, ctx), "-")
        if kind == "cond":
            return self.eval(node[2] if truthy(self.eval(node[1], scope, ctx)) else node[3], scope, ctx)
        if kind == "bin":
            return self.binary(node[1], node[2], node[3], scope, ctx)
        if kind == "call":
            target = node[1]
            if target[0] == "name" and target[1] == "isset":
                return all(self._isset(a, scope, ctx) for a in node[2])
            fn = self.eval(target, scope, ctx)
            if not callable(fn):
                raise JetRenderError("call of a value that is not a function")
            args = [self.eval(a, scope, ctx) for a in node[2]]
            try:
                return fn(*args)
            except TypeError as e:
                raise JetRenderError(f"function call: {e}") from None
        if kind == "slot":
            raise JetRenderError("'_' is only valid as a pipe argument")
        raise JetRenderError(f"unknown expression {kind}")

    def _isset(self, node, scope, ctx) -> bool:
        try:
            return self.eval(node, scope, ctx) is not None
        except JetRenderError:
            return False

    @staticmethod
    def field(obj: Any, key: Any) -> Any:
        if isinstance(obj, dict):
            if key in obj:
                return obj[key]
            raise JetRenderError(f"there is no field or key {key!r}")
        if obj is None:
            raise JetRenderError(f"cannot read {key!r} of nil")
        raise JetRenderError(f"cannot read {key!r} of a {type(obj).__name__}")

    def binary(self, op, an, bn, scope, ctx):
        if op == "&&":
            return truthy(self.eval(an, scope, ctx)) and truthy(self.eval(bn, scope, ctx))
        if op == "||":
            return truthy(self.eval(an, scope, ctx)) or truthy(self.eval(bn, scope, ctx))
        a, b = self.eval(an, scope, ctx), self.eval(bn, scope, ctx)
        if op == "==":
            return a == b and (isinstance(a, bool) == isinstance(b, bool))
        if op == "!=":
            return not (a == b and (isinstance(a, bool) == isinstance(b, bool)))
        if op == "+" and (isinstance(a, str) or isinstance(b, str)):
            return go_string(a) + go_string(b)
        if op in ("<", ">", "<=", ">="):
            if isinstance(a, str) and isinstance(b, str):
                pass
            else:
                _num(a, op), _num(b, op)
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        a, b = _num(a, op), _num(b, op)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                raise JetRenderError("division by zero")
            return a // b if isinstance(a, int) and isinstance(b, int) else a / b
        if op == "%":
            if not isinstance(a, int) or not isinstance(b, int) or b == 0:
                raise JetRenderError("% needs integers and a non-zero divisor")
            return a % b
        raise JetRenderError(f"unknown operator {op}")


def _len(v):
    if isinstance(v, str):
        return len(v.encode())
    if isinstance(v, (list, dict)):
        return len(v)
    if v is None:
        return 0
    raise JetRenderError(f"len of {type(v).__name__}")


def _map(*kv):
    if len(kv) % 2:
        raise JetRenderError("map needs key, value pairs")
    return {kv[i]: kv[i + 1] for i in range(0, len(kv), 2)}


def _ints(a, b):
    if not isinstance(a, int) or not isinstance(b, int) or b - a > MAX_STEPS:
        raise JetRenderError(f"ints: more than {MAX_STEPS} numbers")
    return list(range(a, b))


def _replace(s, old, new, n=-1):
    s = go_string(s)
    count = s.count(old) if old else len(s) + 1
    if n >= 0:
        count = min(count, n)
    if len(s) + count * (len(new) - len(old)) > MAX_OUTPUT:
        raise JetRenderError("replace: result too large")
    return s.replace(old, new, n)


def _repeat(s, n):
    if not isinstance(n, int) or n < 0 or len(s) * n > MAX_OUTPUT:
        raise JetRenderError("repeat: bad count")
    return s * n


BUILTINS: dict[str, Callable] = {
    "len": _len,
    "lower": lambda s: go_string(s).lower(),
    "upper": lambda s: go_string(s).upper(),
    "hasPrefix": lambda s, p: go_string(s).startswith(p),
    "hasSuffix": lambda s, p: go_string(s).endswith(p),
    "repeat": _repeat,
    "replace": _replace,
    "split": lambda s, sep: go_string(s).split(sep) if sep else list(go_string(s)),
    "trimSpace": lambda s: go_string(s).strip(),
    "map": _map,
    "slice": lambda *a: list(a),
    "array": lambda *a: list(a),
    "ints": _ints,
    "html": lambda s: Safe(html.escape(go_string(s), quote=True)),
    "url": lambda s: urllib.parse.quote_plus(go_string(s)),
    "raw": lambda s: Safe(go_string(s)),
    "unsafe": lambda s: Safe(go_string(s)),
    "safeHtml": lambda s: Safe(html.escape(go_string(s), quote=True)),
    "safeJs": lambda s: Safe(json.dumps(go_string(s))[1:-1]),
    "json": lambda v: Safe(json.dumps(v, separators=(",", ":"))),
    "writeJson": lambda v: Safe(json.dumps(v, separators=(",", ":"))),
}
