"""Parser of Jet templates (the CloudyKit Jet syntax of Wippy's template.jet entries).

A template parses into a list of nodes: ("text", s), ("out", expr), ("if", [(cond, body)], else_body),
("range", key_var, val_var, expr, body, else_body), ("block", name, params, body, content_body),
("yield", name, args, ctx_expr, content_body), ("yield_content",), ("include", name_expr, ctx_expr),
("set", name, expr, declare), ("try", body, catch_var, catch_body), ("return", expr).
Expressions are tuples too (see _Expr).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


class JetSyntaxError(ValueError):
    pass


@dataclass
class Delims:
    left: str = "{{"
    right: str = "}}"
    comment_left: str = "{*"
    comment_right: str = "*}"


@dataclass
class Parsed:
    name: str
    body: list
    extends: str | None = None
    imports: list[str] = field(default_factory=list)
    blocks: dict = field(default_factory=dict)     # name -> ("block", ...) defined in this template


def _line(src: str, pos: int) -> int:
    return src.count("\n", 0, pos) + 1


def _lex(src: str, d: Delims, name: str):
    """Text and actions; a `-` next to a delimiter trims the whitespace on that side."""
    out = []
    pos = 0
    while True:
        a = src.find(d.left, pos)
        c = src.find(d.comment_left, pos)
        if a < 0 and c < 0:
            out.append(("text", src[pos:], pos))
            return out
        if c >= 0 and (a < 0 or c < a):
            out.append(("text", src[pos:c], pos))
            end = src.find(d.comment_right, c + len(d.comment_left))
            if end < 0:
                raise JetSyntaxError(f"{name}:{_line(src, c)}: unclosed comment")
            pos = end + len(d.comment_right)
            continue
        text = src[pos:a]
        start = a + len(d.left)
        if src.startswith("-", start) and src[start + 1:start + 2] in (" ", "\t", "\n", "\r"):
            text = text.rstrip()
            start += 1
        end = _find_close(src, start, d.right)
        if end < 0:
            raise JetSyntaxError(f"{name}:{_line(src, a)}: unclosed action (missing {d.right})")
        body = src[start:end]
        pos = end + len(d.right)
        if body.endswith("-") and body[-2:-1] in (" ", "\t", "\n", "\r"):
            body = body[:-1]
            m = re.match(r"\s*", src[pos:])
            assert m is not None   # \s* always matches
            pos += m.end()
        out.append(("text", text, a))
        out.append(("action", body.strip(), a))


def _find_close(src: str, start: int, right: str) -> int:
    """Position of the closing delimiter, skipping string literals."""
    i = start
    while i < len(src):
        ch = src[i]
        if ch in "\"'`":
            j = i + 1
            while j < len(src) and src[j] != ch:
                j += 2 if src[j] == "\\" and ch != "`" else 1
            i = j + 1
            continue
        if src.startswith(right, i):
            return i
        i += 1
    return -1


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+\.\d+(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`|'(?:[^'\\]|\\.)')
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>:=|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]|=_])
""", re.VERBOSE)

_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}


def _unquote(t: str) -> str:
    if t[0] == "`":
        return t[1:-1]
    return re.sub(r"\\(.)", lambda m: _ESC.get(m.group(1), m.group(1)), t[1:-1])


class _Expr:
    """Expression parser over the tokens of one action."""

    PREC = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 3, ">": 3, "<=": 3, ">=": 3,
            "+": 4, "-": 4, "*": 5, "/": 5, "%": 5}

    def __init__(self, text: str, where: str):
        self.where = where
        self.toks = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise JetSyntaxError(f"{where}: unexpected character {text[pos]!r}")
            if m.lastgroup != "ws":
                self.toks.append((m.lastgroup, m.group()))
            pos = m.end()
        self.toks.append(("eof", ""))
        self.i = 0

    def peek(self, k=0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value and self.peek()[0] in ("op", "name"):
            self.i += 1
            return True
        return False

    def expect(self, value: str):
        if not self.accept(value):
            raise JetSyntaxError(f"{self.where}: expected '{value}', found {self.peek()[1] or 'end of action'!r}")

    def at_end(self) -> bool:
        return self.peek()[0] == "eof"

    def done(self):
        if not self.at_end():
            raise JetSyntaxError(f"{self.where}: unexpected {self.peek()[1]!r}")

    # pipeline: expr | f | f: args | f(args, _)
    def pipeline(self):
        node = self.ternary()
        while self.peek() == ("op", "|"):
            self.next()
            t = self.next()
            if t[0] != "name":
                raise JetSyntaxError(f"{self.where}: a pipe needs a function name")
            if self.accept("("):
                args = self.args(")")
                if any(a == ("slot",) for a in args):
                    args = [node if a == ("slot",) else a for a in args]
                else:
                    args = [node] + args
            elif self.accept(":"):
                args = [node] + self.prefix_args()
            else:
                args = [node]
            node = ("call", ("name", t[1]), args)
        return node

    def prefix_args(self):
        args = [self.ternary()]
        while self.accept(","):
            args.append(self.ternary())
        return args

    def ternary(self):
        cond = self.binary(1)
        if self.accept("?"):
            a = self.ternary()
            self.expect(":")
            b = self.ternary()
            return ("cond", cond, a, b)
        return cond

    def binary(self, min_prec):
        left = self.unary()
        while True:
            kind, op = self.peek()
            prec = self.PREC.get(op) if kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.next()
            left = ("bin", op, left, self.binary(prec + 1))

    def unary(self):
        if self.accept("!"):
            return ("not", self.unary())
        if self.accept("-"):
            return ("neg", self.unary())
        return self.postfix(self.primary())

    def primary(self):
        kind, v = self.next()
        if kind == "num":
            return ("lit", float(v) if any(c in v for c in ".eE") else int(v))
        if kind == "str":
            return ("lit", _unquote(v))
        if kind == "name":
            if v in ("true", "false"):
                return ("lit", v == "true")
            if v in ("nil", "null"):
                return ("lit", None)
            if self.peek() == ("op", ":") and self.peek(1)[0] != "eof" and self.peek(1) != ("op", "="):
                self.next()
                return ("call", ("name", v), self.prefix_args())
            return ("name", v)
        if kind == "op":
            if v == "(":
                e = self.pipeline()
                self.expect(")")
                return e
            if v == "_":
                return ("slot",)
            if v == ".":
                t = self.peek()
                if t[0] == "name":
                    self.next()
                    return ("field", ("dot",), t[1])
                if t == ("op", "["):
                    return ("dot",)
                return ("dot",)
        raise JetSyntaxError(f"{self.where}: unexpected {v or 'end of action'!r}")

    def postfix(self, node):
        while True:
            t = self.peek()
            if t == ("op", ".") and self.peek(1)[0] == "name":
                self.next()
                node = ("field", node, self.next()[1])
            elif t == ("op", "["):
                self.next()
                lo = None if self.peek() == ("op", ":") else self.pipeline()
                if self.accept(":"):
                    hi = None if self.peek() == ("op", "]") else self.pipeline()
                    self.expect("]")
                    node = ("slice", node, lo, hi)
                else:
                    self.expect("]")
                    node = ("index", node, lo)
            elif t == ("op", "("):
                self.next()
                node = ("call", node, self.args(")"))
            else:
                return node

    def args(self, close: str):
        out: list[Any] = []
        if self.accept(close):
            return out
        while True:
            out.append(self.pipeline())
            if self.accept(close):
                return out
            self.expect(",")

    def named_args(self):
        """block/yield parameters: name, name=default, or positional expressions."""
        out: list[Any] = []
        if self.accept(")"):
            return out
        while True:
            if self.peek()[0] == "name" and self.peek(1) == ("op", "="):
                name = self.next()[1]
                self.next()
                out.append((name, self.pipeline()))
            else:
                e = self.pipeline()
                out.append((e[1], None) if e[0] == "name" else (None, e))
            if self.accept(")"):
                return out
            self.expect(",")


def parse(name: str, src: str, delims: Delims | None = None) -> Parsed:
    d = delims or Delims()
    items = _lex(src, d, name)
    parsed = Parsed(name, [])
    stack: list[tuple[str, list[Any], list[Any]]] = []   # (kind, current body, its node)
    body: list[Any] = parsed.body

    def where(pos):
        return f"{name}:{_line(src, pos)}"

    for kind, text, pos in items:
        if kind == "text":
            if text:
                body.append(("text", text))
            continue
        w = where(pos)
        word, _, rest = text.partition(" ")
        rest = rest.strip()
        if word == "if":
            node: list[Any] = ["if", [[_parse_expr(rest, w), []]], None]
            body.append(node)
            stack.append(("if", body, node))
            body = node[1][0][1]
        elif word == "else":
            if not stack or stack[-1][0] not in ("if", "range"):
                raise JetSyntaxError(f"{w}: else without if or range")
            top = stack[-1][2]
            if stack[-1][0] == "if" and rest.startswith("if "):
                top[1].append([_parse_expr(rest[3:], w), []])
                body = top[1][-1][1]
            elif rest:
                raise JetSyntaxError(f"{w}: unexpected {rest!r} after else")
            else:
                if top[-1] is not None:
                    raise JetSyntaxError(f"{w}: second else")
                else_body: list[Any] = []
                top[-1] = else_body
                body = else_body
        elif word == "range":
            key, val, expr = _parse_range(rest, w)
            node = ["range", key, val, expr, [], None]
            body.append(node)
            stack.append(("range", body, node))
            body = node[4]
        elif word == "block":
            bname, params, ctx = _parse_call(rest, w, named=True)
            node = ["block", bname, params, [], None, ctx]
            parsed.blocks[bname] = node
            if parsed.extends is None or stack:
                body.append(["yield", bname, [], ctx, None])
            stack.append(("block", body, node))
            body = node[3]
        elif word == "yield":
            if rest == "content":
                body.append(["yield_content"])
                continue
            content = False
            if rest.endswith(" content"):
                rest, content = rest[:-len(" content")].strip(), True
            yname, args, ctx = _parse_call(rest, w, named=True)
            node = ["yield", yname, args, ctx, [] if content else None]
            body.append(node)
            if content:
                stack.append(("yield", body, node))
                body = node[4]
        elif word == "content":
            if not stack or stack[-1][0] != "block":
                raise JetSyntaxError(f"{w}: content outside a block")
            top = stack[-1][2]
            top[4] = []
            body = top[4]
        elif word == "try":
            node = ["try", [], None, None]
            body.append(node)
            stack.append(("try", body, node))
            body = node[1]
        elif word == "catch":
            if not stack or stack[-1][0] != "try":
                raise JetSyntaxError(f"{w}: catch without try")
            top = stack[-1][2]
            top[2] = rest or None
            top[3] = []
            body = top[3]
        elif word == "end":
            if not stack:
                raise JetSyntaxError(f"{w}: end without an open if, range, block or try")
            _, body, _ = stack.pop()
        elif word == "extends":
            if parsed.body and any(n[0] != "text" or n[1].strip() for n in parsed.body) or stack:
                raise JetSyntaxError(f"{w}: extends must come first in a template")
            parsed.extends = _string_arg(rest, w)
        elif word == "import":
            parsed.imports.append(_string_arg(rest, w))
        elif word == "include":
            e = _Expr(rest, w)
            target = e.ternary()
            ctx = None if e.at_end() else e.pipeline()
            e.done()
            body.append(["include", target, ctx])
        elif word == "return":
            body.append(["return", _parse_expr(rest, w)])
        else:
            m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(:=|=)(?!=)\s*(.+)$", text, re.S)
            if m:
                body.append(["set", m.group(1), _parse_expr(m.group(3), w), m.group(2) == ":="])
            else:
                body.append(["out", _parse_expr(text, w)])
    if stack:
        raise JetSyntaxError(f"{name}: unclosed {stack[-1][0]} (missing {{{{ end }}}})")
    return parsed


def _parse_expr(text: str, where: str):
    if not text:
        raise JetSyntaxError(f"{where}: empty expression")
    e = _Expr(text, where)
    node = e.pipeline()
    e.done()
    return node


def _string_arg(text: str, where: str) -> str:
    e = _Expr(text, where)
    kind, v = e.next()
    if kind != "str":
        raise JetSyntaxError(f"{where}: expected a template name string")
    e.done()
    return _unquote(v)


def _parse_range(text: str, where: str):
    m = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:,\s*([A-Za-z_][A-Za-z0-9_]*)\s*)?:=\s*(.+)$", text, re.S)
    if m:
        return m.group(1), m.group(2), _parse_expr(m.group(3), where)
    return None, None, _parse_expr(text, where)


def _parse_call(text: str, where: str, named: bool):
    e = _Expr(text, where)
    kind, name = e.next()
    if kind != "name":
        raise JetSyntaxError(f"{where}: expected a block name")
    e.expect("(")
    params = e.named_args()
    ctx = None if e.at_end() else e.pipeline()
    e.done()
    return name, params, ctx
