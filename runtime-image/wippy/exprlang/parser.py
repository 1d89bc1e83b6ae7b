"""Lexer and parser of the expression language (the expr-lang syntax Wippy's `expr` uses).

The parser produces plain tuples: ("lit", v), ("name", n), ("unary", op, x), ("binary", op, a, b),
("cond", c, a, b), ("member", obj, key_node, optional), ("slice", obj, lo, hi), ("call", name, args),
("array", items), ("map", pairs), ("closure", body), ("pointer", field|None), ("pipe", ...).
"""
from __future__ import annotations

import re

MAX_LENGTH = 64 * 1024   # longest accepted expression source
MAX_DEPTH = 200          # deepest accepted nesting


class ExprSyntaxError(ValueError):
    pass


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*)?\.\d[\d_]*(?:[eE][+-]?\d+)?|\d[\d_]*(?:[eE][+-]?\d+)?)
  | (?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>\?\?|\?\.|\.\.|==|!=|<=|>=|&&|\|\||\*\*|[-+*/%^<>!?:.,()\[\]{}|\#])
""", re.VERBOSE)

_WORD_OPS = {"and", "or", "not", "in", "matches", "contains", "startsWith", "endsWith"}

# binary operators: precedence, right-associative
_BINARY = {
    "|": (0, False),   # pipe (handled specially)
    "??": (500, False),
    "or": (10, False), "||": (10, False),
    "and": (15, False), "&&": (15, False),
    "==": (20, False), "!=": (20, False), "<": (20, False), ">": (20, False), "<=": (20, False),
    ">=": (20, False), "in": (20, False), "not in": (20, False), "matches": (20, False),
    "contains": (20, False), "startsWith": (20, False), "endsWith": (20, False),
    "..": (25, False),
    "+": (30, False), "-": (30, False),
    "*": (60, False), "/": (60, False), "%": (60, False),
    "**": (100, True), "^": (100, True),
}
_UNARY_PREC = 90   # -x, +x, !x, not x bind tighter than every binary operator but ** and ??

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "a": "\a",
            "\\": "\\", "'": "'", '"': '"', "0": "\0"}


def _unquote(tok: str, pos: int) -> str:
    if tok[0] == "`":
        return tok[1:-1]
    body, out, i = tok[1:-1], [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e in "xuU":
            n = {"x": 2, "u": 4, "U": 8}[e]
            hexd = body[i + 2:i + 2 + n]
            if len(hexd) != n or not re.fullmatch(r"[0-9a-fA-F]+", hexd):
                raise ExprSyntaxError(f"invalid escape \\{e} in string (column {pos + 1})")
            out.append(chr(int(hexd, 16)))
            i += 2 + n
        else:
            raise ExprSyntaxError(f"invalid escape \\{e} in string (column {pos + 1})")
    return "".join(out)


def tokenize(src: str) -> list[tuple[str, object, int]]:
    toks: list[tuple[str, object, int]] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise ExprSyntaxError(f"unexpected character {src[pos]!r} (column {pos + 1})")
        kind, text = m.lastgroup, m.group()
        if kind == "num":
            t = text.replace("_", "")
            if t[:2].lower() in ("0x", "0o", "0b"):
                toks.append(("num", int(t, 0), pos))
            elif any(c in t for c in ".eE"):
                toks.append(("num", float(t), pos))
            else:
                toks.append(("num", int(t), pos))
        elif kind == "str":
            toks.append(("str", _unquote(text, pos), pos))
        elif kind == "name":
            toks.append(("op" if text in _WORD_OPS else "name", text, pos))
        elif kind == "op":
            toks.append(("op", text, pos))
        pos = m.end()
    toks.append(("eof", None, len(src)))
    return toks


class _Parser:
    def __init__(self, src: str):
        self.toks = tokenize(src)
        self.i = 0
        self.depth = 0
        self.closure = 0   # > 0 inside a predicate, where # and .field are allowed

    # ------------------------------------------------------------------ helpers
    def peek(self, k: int = 0):
        return self.toks[min(self.i + k, len(self.toks) - 1)]

    def next(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def is_op(self, value: str, k: int = 0) -> bool:
        t = self.peek(k)
        return t[0] == "op" and t[1] == value

    def expect(self, value: str):
        t = self.next()
        if t[0] != "op" or t[1] != value:
            raise ExprSyntaxError(f"expected '{value}' but found {self.describe(t)} (column {t[2] + 1})")
        return t

    @staticmethod
    def describe(t) -> str:
        return "end of expression" if t[0] == "eof" else repr(t[1])

    def enter(self):
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError("expression nested too deeply")

    # ------------------------------------------------------------------ grammar
    def parse(self):
        node = self.expression()
        t = self.peek()
        if t[0] != "eof":
            raise ExprSyntaxError(f"unexpected token {self.describe(t)} (column {t[2] + 1})")
        return node

    def expression(self):
        self.enter()
        try:
            node = self.binary(0)
            if self.is_op("?"):
                self.next()
                if self.is_op(":"):          # a ?: b  (a if truthy, else b)
                    self.next()
                    other = self.expression()
                    return ("elvis", node, other)
                a = self.expression()
                self.expect(":")
                b = self.expression()
                return ("cond", node, a, b)
            return node
        finally:
            self.depth -= 1

    def binary_op(self):
        t = self.peek()
        if t[0] != "op":
            return None
        if t[1] == "not" and self.is_op("in", 1):
            return "not in"
        return t[1] if t[1] in _BINARY else None

    def binary(self, min_prec: int):
        left = self.unary()
        while True:
            op = self.binary_op()
            if op is None:
                return left
            prec, right_assoc = _BINARY[op]
            if prec < min_prec:
                return left
            self.next()
            if op == "not in":
                self.next()
            if op == "|":
                left = self.pipe(left)
                continue
            right = self.binary(prec if right_assoc else prec + 1)
            left = ("binary", op, left, right)

    def pipe(self, left):
        t = self.next()
        if t[0] != "name" or not self.is_op("("):
            raise ExprSyntaxError(f"a pipe must be followed by a function call (column {t[2] + 1})")
        self.next()
        args = [left] + self.call_args(t[1], first_index=1)
        return ("call", t[1], args)

    def unary(self):
        t = self.peek()
        if t[0] == "op" and t[1] in ("-", "+", "!", "not"):
            self.next()
            self.enter()
            try:
                operand = self.binary(_UNARY_PREC)
            finally:
                self.depth -= 1
            op = "!" if t[1] == "not" else t[1]
            if op == "-" and operand[0] == "lit" and isinstance(operand[1], (int, float)) \
                    and not isinstance(operand[1], bool):
                return ("lit", -operand[1])
            return ("unary", op, operand)
        return self.postfix(self.primary())

    def primary(self):
        t = self.next()
        kind, value, pos = t
        if kind == "num" or kind == "str":
            return ("lit", value)
        if kind == "name":
            if value in ("true", "false"):
                return ("lit", value == "true")
            if value == "nil":
                return ("lit", None)
            if self.is_op("("):
                self.next()
                return ("call", value, self.call_args(value))
            return ("name", value)
        if kind == "op":
            if value == "(":
                node = self.expression()
                self.expect(")")
                return node
            if value == "[":
                items = []
                while not self.is_op("]"):
                    items.append(self.expression())
                    if not self.is_op(","):
                        break
                    self.next()
                self.expect("]")
                return ("array", items)
            if value == "{":
                pairs = []
                while not self.is_op("}"):
                    kt = self.next()
                    if kt[0] in ("name", "str", "num"):
                        key = ("lit", kt[1])
                    elif kt[0] == "op" and kt[1] == "(":
                        key = self.expression()
                        self.expect(")")
                    else:
                        raise ExprSyntaxError(f"a map key must be a name or a string (column {kt[2] + 1})")
                    self.expect(":")
                    pairs.append((key, self.expression()))
                    if not self.is_op(","):
                        break
                    self.next()
                self.expect("}")
                return ("map", pairs)
            if value == "#":
                if not self.closure:
                    raise ExprSyntaxError(f"'#' is only valid inside a predicate (column {pos + 1})")
                nt = self.peek()
                if nt[0] == "name" and nt[1] in ("index", "acc") and nt[2] == pos + 1:
                    self.next()
                    return ("pointer_var", nt[1])
                return ("pointer", None)
            if value == "." and self.closure and self.peek()[0] == "name":
                return ("member", ("pointer", None), ("lit", self.next()[1]), False)
        raise ExprSyntaxError(f"unexpected token {self.describe(t)} (column {pos + 1})")

    def call_args(self, fname: str, first_index: int = 0) -> list:
        args = []
        index = first_index
        while not self.is_op(")"):
            if fname in PREDICATE_FUNCS and index >= 1:
                args.append(self.predicate())
            else:
                args.append(self.expression())
            index += 1
            if not self.is_op(","):
                break
            self.next()
        self.expect(")")
        return args

    def predicate(self):
        self.closure += 1
        try:
            if self.is_op("{"):       # the older {# > 1} form
                save = self.i
                self.next()
                try:
                    body = self.expression()
                    self.expect("}")
                    return ("closure", body)
                except ExprSyntaxError:
                    self.i = save
            return ("closure", self.expression())
        finally:
            self.closure -= 1

    def postfix(self, node):
        while True:
            t = self.peek()
            if t[0] != "op":
                return node
            if t[1] in (".", "?."):
                self.next()
                optional = t[1] == "?."
                if optional and self.is_op("["):
                    self.next()
                    key = self.expression()
                    self.expect("]")
                    node = ("member", node, key, True)
                    continue
                nt = self.next()
                if nt[0] not in ("name", "op") or (nt[0] == "op" and nt[1] not in _WORD_OPS):
                    raise ExprSyntaxError(f"expected a field name after '{t[1]}' (column {nt[2] + 1})")
                if self.is_op("("):
                    self.next()
                    node = ("method", node, nt[1], self.call_args(""))
                else:
                    node = ("member", node, ("lit", nt[1]), optional)
            elif t[1] == "[":
                self.next()
                if self.is_op(":"):
                    self.next()
                    hi = None if self.is_op("]") else self.expression()
                    self.expect("]")
                    node = ("slice", node, None, hi)
                    continue
                key = self.expression()
                if self.is_op(":"):
                    self.next()
                    hi = None if self.is_op("]") else self.expression()
                    self.expect("]")
                    node = ("slice", node, key, hi)
                    continue
                self.expect("]")
                node = ("member", node, key, False)
            else:
                return node


# builtins whose arguments after the first are predicates evaluated per element
PREDICATE_FUNCS = {"all", "any", "none", "one", "filter", "map", "count", "find", "findIndex",
                   "findLast", "findLastIndex", "groupBy", "sortBy", "sum", "reduce", "mean"}


def parse(src: str):
    if len(src) > MAX_LENGTH:
        raise ExprSyntaxError(f"expression longer than {MAX_LENGTH} characters")
    return _Parser(src).parse()


def names(node, out: set | None = None) -> set:
    """Variable names an expression reads (outside predicates' own # references)."""
    out = set() if out is None else out
    if isinstance(node, tuple):
        if node[0] == "name":
            out.add(node[1])
        for part in node[1:]:
            if isinstance(part, tuple):
                names(part, out)
            elif isinstance(part, list):
                for item in part:
                    names(item, out)
    return out
