"""Recursive-descent parser: Wippy Lua source to the tree of ast.py.

Lua 5.4 grammar plus the type syntax: annotations on locals, parameters and returns,
`type`/`export type` declarations, generics, `e!`, `e :: T` and `e as T`, validators.
Errors are raised as LuaSyntaxError in Lua's own wording ("'end' expected near ...").
"""
from __future__ import annotations

from . import ast as A
from .errors import LuaSyntaxError
from .tokens import tokenize

# binary operator -> (left priority, right priority), as in Lua's lparser.c
_BINARY = {
    "or": (1, 1), "and": (2, 2),
    "<": (3, 3), ">": (3, 3), "<=": (3, 3), ">=": (3, 3), "~=": (3, 3), "==": (3, 3),
    "|": (4, 4), "~": (5, 5), "&": (6, 6), "<<": (7, 7), ">>": (7, 7),
    "..": (9, 8), "+": (10, 10), "-": (10, 10),
    "*": (11, 11), "/": (11, 11), "//": (11, 11), "%": (11, 11),
    "^": (14, 13),
}
_UNARY_PRIORITY = 12
_BLOCK_END = frozenset(("end", "else", "elseif", "until", "<eof>"))
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v",
            "\\": "\\", '"': '"', "'": "'", "\n": "\n"}


def string_value(text: str) -> str:
    """The value of a string token (quotes or long brackets included)."""
    if text[0] == "[":
        eq = text.index("[", 1) + 1
        body = text[eq:len(text) - eq]
        return body[1:] if body.startswith("\n") else body
    body = text[1:-1]
    if "\\" not in body:
        return body
    out, i, n = [], 0, len(body)
    while i < n:
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = body[i + 1] if i + 1 < n else ""
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 2
        elif e == "x":
            out.append(chr(int(body[i + 2:i + 4], 16)))
            i += 4
        elif e == "z":
            i += 2
            while i < n and body[i].isspace():
                i += 1
        elif e.isdigit():
            j = i + 1
            while j < n and j < i + 4 and body[j].isdigit():
                j += 1
            out.append(chr(int(body[i + 1:j])))
            i = j
        elif e == "u":
            j = body.index("}", i)
            out.append(chr(int(body[i + 3:j], 16)))
            i = j + 1
        else:
            out.append(e)
            i += 2
    return "".join(out)


class Parser:
    def __init__(self, src: str, chunk: str = "?"):
        self.chunk = chunk
        self.k, self.t, self.ln = tokenize(src, chunk)
        self.i = 0

    # ------------------------------------------------------------ helpers
    def error(self, msg: str, line: int | None = None):
        tok = self.t[self.i]
        near = "<eof>" if self.k[self.i] == "<eof>" else tok
        raise LuaSyntaxError(f"{msg} near '{near}'", self.ln[self.i] if line is None else line, self.chunk)

    def check(self, kind: str) -> bool:
        return self.k[self.i] == kind

    def accept(self, kind: str) -> bool:
        if self.k[self.i] == kind:
            self.i += 1
            return True
        return False

    def expect(self, kind: str, what: str | None = None) -> str:
        if self.k[self.i] != kind:
            self.error(f"'{what or kind}' expected")
        text = self.t[self.i]
        self.i += 1
        return text

    def expect_match(self, kind: str, opener: str, line: int) -> int:
        if self.k[self.i] != kind:
            if line == self.ln[self.i]:
                self.error(f"'{kind}' expected")
            self.error(f"'{kind}' expected (to close '{opener}' at line {line})")
        self.i += 1
        return self.ln[self.i - 1]

    def name(self) -> str:
        if self.k[self.i] != "name":
            self.error("<name> expected")
        self.i += 1
        return self.t[self.i - 1]

    def line(self) -> int:
        return self.ln[self.i]

    def peek(self, n: int = 1) -> str:
        return self.k[min(self.i + n, len(self.k) - 1)]

    # ------------------------------------------------------------ blocks
    def chunk_(self) -> A.Chunk:
        body = self.block()
        if not self.check("<eof>"):
            self.error("'<eof>' expected")
        return A.Chunk(body, self.chunk)

    def block(self) -> A.Block:
        line = self.line()
        stmts: list = []
        k = self.k
        while k[self.i] not in _BLOCK_END:
            if k[self.i] == "return":
                stmts.append(self.return_stat())
                break
            st = self.statement()
            if st is not None:
                stmts.append(st)
        return A.Block(stmts, line, self.line())

    def return_stat(self) -> A.Return:
        line = self.line()
        self.i += 1
        exprs: list = []
        if self.k[self.i] not in _BLOCK_END and self.k[self.i] != ";":
            exprs = self.exprlist()
        self.accept(";")
        if self.k[self.i] not in _BLOCK_END:
            self.error("'<eof>' expected" if self.k[self.i] != "<eof>" else "'end' expected")
        return A.Return(exprs, line)

    def statement(self):
        k = self.k[self.i]
        line = self.line()
        if k == ";":
            self.i += 1
            return None
        if k == "if":
            return self.if_stat(line)
        if k == "while":
            self.i += 1
            cond = self.expr()
            self.expect("do")
            body = self.block()
            self.expect_match("end", "while", line)
            return A.While(cond, body, line)
        if k == "do":
            self.i += 1
            body = self.block()
            self.expect_match("end", "do", line)
            return A.Do(body, line)
        if k == "for":
            return self.for_stat(line)
        if k == "repeat":
            self.i += 1
            body = self.block()
            self.expect_match("until", "repeat", line)
            return A.Repeat(body, self.expr(), line)
        if k == "function":
            self.i += 1
            target: A.Expr = A.Name(self.name(), self.line())
            method = None
            while self.check("."):
                self.i += 1
                target = A.Member(target, self.name(), self.line())
            if self.accept(":"):
                method = self.name()
            return A.FunctionDecl(target, method, self.funcbody(line, method is not None), line)
        if k == "local":
            self.i += 1
            if self.accept("function"):
                name = self.name()
                return A.LocalFunction(name, self.funcbody(line, False), line)
            return self.local_stat(line)
        if k == "::":
            self.i += 1
            name = self.name()
            self.expect("::")
            return A.Label(name, line)
        if k == "return":
            return self.return_stat()
        if k == "break":
            self.i += 1
            return A.Break(line)
        if k == "goto":
            self.i += 1
            return A.Goto(self.name(), line)
        if k == "name":
            t = self.t[self.i]
            if t == "type" and self.peek() == "name" and self.peek(2) in ("=", "<"):
                self.i += 1
                return self.type_decl(line, False)
            if t == "export" and self.peek() == "name" and self.t[self.i + 1] == "type" and self.peek(2) == "name":
                self.i += 2
                return self.type_decl(line, True)
        return self.expr_stat(line)

    def if_stat(self, line: int) -> A.If:
        clauses = []
        self.i += 1
        cond = self.expr()
        self.expect("then")
        clauses.append(A.IfClause(cond, self.block(), line))
        orelse = None
        else_line = 0
        while self.check("elseif"):
            cl = self.line()
            self.i += 1
            cond = self.expr()
            self.expect("then")
            clauses.append(A.IfClause(cond, self.block(), cl))
        if self.check("else"):
            else_line = self.line()
            self.i += 1
            orelse = self.block()
        self.expect_match("end", "if", line)
        return A.If(clauses, orelse, line, else_line)

    def for_stat(self, line: int):
        self.i += 1
        first = self.local_name()
        if self.accept("="):
            start = self.expr()
            self.expect(",")
            stop = self.expr()
            step = self.expr() if self.accept(",") else None
            self.expect("do")
            body = self.block()
            self.expect_match("end", "for", line)
            return A.NumericFor(first, start, stop, step, body, line)
        names = [first]
        while self.accept(","):
            names.append(self.local_name())
        if not self.check("in"):
            self.error("'=' or 'in' expected")
        self.i += 1
        exprs = self.exprlist()
        self.expect("do")
        body = self.block()
        self.expect_match("end", "for", line)
        return A.GenericFor(names, exprs, body, line)

    def local_name(self, attribs: bool = False) -> A.LocalName:
        line = self.line()
        name = self.name()
        typ = self.type_() if self.accept(":") else None
        attrib = None
        if attribs and self.check("<"):
            self.i += 1
            attrib = self.name()
            if attrib not in ("const", "close"):
                self.error(f"unknown attribute '{attrib}'")
            self.expect(">")
        return A.LocalName(name, typ, attrib, line)

    def local_stat(self, line: int) -> A.Local:
        names = [self.local_name(True)]
        while self.accept(","):
            names.append(self.local_name(True))
        exprs = self.exprlist() if self.accept("=") else []
        return A.Local(names, exprs, line)

    def type_decl(self, line: int, exported: bool) -> A.TypeDecl:
        name = self.name()
        generics = self.generics() if self.check("<") else []
        self.expect("=")
        typ = self.type_()
        return A.TypeDecl(name, generics, typ, exported, line, self.ln[self.i - 1])

    def expr_stat(self, line: int):
        e = self.suffixedexp()
        if self.check("=") or self.check(","):
            targets = [e]
            while self.accept(","):
                targets.append(self.suffixedexp())
            self.expect("=")
            for t in targets:
                if not isinstance(t, (A.Name, A.Index, A.Member)):
                    self.error("syntax error", line)
            return A.Assign(targets, self.exprlist(), line)
        if isinstance(e, (A.Member, A.Index)):
            return A.ExprStat(e, line)
        if not isinstance(e, (A.Call, A.MethodCall)):
            self.error("syntax error")
        return A.CallStat(e, line)

    # ------------------------------------------------------------ functions
    def generics(self) -> list[A.Generic]:
        self.expect("<")
        out = []
        while True:
            line = self.line()
            name = self.name()
            constraint = self.type_() if self.accept(":") else None
            default = self.type_() if self.accept("=") else None
            out.append(A.Generic(name, constraint, line, default))
            if not self.accept(","):
                break
        self.close_angle()
        return out

    def funcbody(self, line: int, is_method: bool) -> A.FuncBody:
        generics = self.generics() if self.check("<") else []
        self.expect("(")
        params: list[A.Param] = []
        is_vararg = False
        vararg_type = None
        if not self.check(")"):
            while True:
                if self.accept("..."):
                    is_vararg = True
                    if self.accept(":"):
                        vararg_type = self.type_()
                    break
                pline = self.line()
                pname = self.name()
                optional = self.accept("?")
                ptype = self.type_() if self.accept(":") else None
                params.append(A.Param(pname, ptype, pline, optional))
                if not self.accept(","):
                    break
        self.expect(")")
        returns = None
        ret_var = None
        if self.accept(":"):
            returns, ret_var = self.return_types()
        body = self.block()
        end_line = self.expect_match("end", "function", line)
        return A.FuncBody(params, is_vararg, vararg_type, returns, ret_var, generics, body, line,
                          end_line, is_method)

    def return_types(self) -> tuple[list, A.Type | None]:
        """After `:` of a function or `->` of a function type: one type or a parenthesised list."""
        if self.check("("):
            save = self.i
            params, variadic = self.type_list_parens()
            if self.check("->"):  # the return type is itself a function type
                self.i = save
                return [self.type_()], None
            if len(params) == 1 and params[0].name is None and variadic is None and self.k[self.i] in ("?", "|", "&", "@"):
                self.i = save
                return [self.type_()], None
            return [p.type for p in params], variadic
        if self.accept("..."):
            return [], self.type_()
        return [self.type_()], None

    def type_list_parens(self) -> tuple[list[A.TParam], A.Type | None]:
        """`(a: T, U, ...V)`: parameters of a function type (names optional)."""
        self.expect("(")
        params: list[A.TParam] = []
        variadic = None
        if not self.check(")"):
            while True:
                if self.accept("..."):
                    self.accept(":")
                    variadic = self.type_() if not self.check(")") else A.TName("any", self.line())
                    break
                name = None
                optional = False
                if self.check("name") and self.peek() in (":",) or (self.check("name") and self.peek() == "?" and self.peek(2) == ":"):
                    name = self.name()
                    optional = self.accept("?")
                    self.expect(":")
                params.append(A.TParam(name, self.type_(), optional))
                if not self.accept(","):
                    break
        self.expect(")")
        return params, variadic

    # ------------------------------------------------------------ types
    def close_angle(self):
        k = self.k[self.i]
        if k == ">":
            self.i += 1
        elif k in (">>", ">="):
            self.k[self.i] = k[1:]
            self.t[self.i] = k[1:]
        else:
            self.error("'>' expected")

    def type_(self):
        line = self.line()
        self.accept("|")
        first = self.type_inter()
        if not self.check("|"):
            return first
        members = [first]
        while self.accept("|"):
            members.append(self.type_inter())
        return A.TUnion(members, line)

    def type_inter(self):
        line = self.line()
        first = self.type_postfix()
        if not self.check("&"):
            return first
        members = [first]
        while self.accept("&"):
            members.append(self.type_postfix())
        return A.TIntersection(members, line)

    def type_postfix(self):
        t = self.type_primary()
        while True:
            k = self.k[self.i]
            if k == "?":
                self.i += 1
                t = A.TOptional(t, t.line)
            elif k == "@":
                validators = []
                while self.check("@"):
                    vline = self.line()
                    self.i += 1
                    vname = self.name()
                    args = []
                    self.expect("(")
                    if not self.check(")"):
                        while True:
                            args.append(self.validator_arg())
                            if not self.accept(","):
                                break
                    self.expect(")")
                    validators.append(A.Validator(vname, args, vline))
                t = A.TValidated(t, validators, t.line)
            elif k == "[" and self.peek() == "]":
                self.i += 2
                t = A.TArray(t, t.line)
            else:
                return t

    def validator_arg(self):
        neg = self.accept("-")
        k = self.k[self.i]
        if k == "number":
            v = A.Number(self.t[self.i], self.line()).value
            self.i += 1
            return -v if neg else v
        if k == "string" and not neg:
            self.i += 1
            return string_value(self.t[self.i - 1])
        if k in ("true", "false") and not neg:
            self.i += 1
            return k == "true"
        self.error("validator argument must be a number, string or boolean")

    def type_primary(self):
        k = self.k[self.i]
        line = self.line()
        if k == "name":
            name = self.name()
            if name == "typeof" and self.check("("):
                self.i += 1
                e = self.expr()
                self.expect(")")
                return A.TTypeof(e, line)
            while self.check(".") and self.peek() == "name":
                self.i += 1
                name += "." + self.name()
            args = []
            if self.check("<"):
                self.i += 1
                while True:
                    args.append(self.type_())
                    if not self.accept(","):
                        break
                self.close_angle()
            return A.TName(name, line, args)
        if k == "nil":
            self.i += 1
            return A.TName("nil", line)
        if k in ("true", "false"):
            self.i += 1
            return A.TLiteral(k == "true", line)
        if k == "string":
            self.i += 1
            return A.TLiteral(string_value(self.t[self.i - 1]), line)
        if k == "number" or (k == "-" and self.peek() == "number"):
            neg = self.accept("-")
            v = A.Number(self.t[self.i], line).value
            self.i += 1
            return A.TLiteral(-v if neg else v, line)
        if k == "{":
            return self.type_table()
        if k == "function":  # `function` alone: any function
            self.i += 1
            if self.check("("):
                return self.func_type(line, [])
            return A.TName("function", line)
        if k == "<":  # generic function type `<T>(T) -> T`
            generics = self.generics()
            return self.func_type(line, generics)
        if k == "(":
            save = self.i
            params, variadic = self.type_list_parens()
            if self.check("->") or not (len(params) == 1 and params[0].name is None and variadic is None):
                self.i = save
                return self.func_type(line, [])
            return params[0].type
        if k == "...":
            self.error("unexpected '...' in type")
        self.error("type expected")

    def func_type(self, line: int, generics: list) -> A.TFunction:
        params, variadic = self.type_list_parens()
        self.expect("->")
        returns, ret_var = self.return_types()
        return A.TFunction(params, returns, line, variadic, ret_var, generics)

    def type_table(self):
        line = self.line()
        self.expect("{")
        fields: list[A.TField] = []
        indexer = None
        elem = None
        while not self.check("}"):
            fline = self.line()
            k = self.k[self.i]
            if k == "[":
                self.i += 1
                if self.check("string") and self.peek() == "]":
                    fname = string_value(self.t[self.i])
                    self.i += 2
                    optional = self.accept("?")
                    self.expect(":")
                    fields.append(A.TField(fname, self.type_(), optional, fline))
                else:
                    key = self.type_()
                    self.expect("]")
                    self.expect(":")
                    indexer = (key, self.type_())
            elif (k == "name" or k in _KEYWORD_FIELDS) and (self.peek() == ":" or (self.peek() == "?" and self.peek(2) == ":")):
                fname = self.t[self.i]
                self.i += 1
                optional = self.accept("?")
                self.expect(":")
                fields.append(A.TField(fname, self.type_(), optional, fline))
            elif not fields and indexer is None and elem is None:
                elem = self.type_()
            else:
                self.error("'}' expected")
            if not (self.accept(",") or self.accept(";")):
                break
        self.expect_match("}", "{", line)
        if elem is not None:
            if fields or indexer:
                self.error("an array type cannot have fields", line)
            return A.TArray(elem, line)
        if indexer is not None:
            m = A.TMap(indexer[0], indexer[1], line)
            return A.TIntersection([A.TRecord(fields, line), m], line) if fields else m
        return A.TRecord(fields, line)

    # ------------------------------------------------------------ expressions
    def exprlist(self) -> list:
        out = [self.expr()]
        while self.accept(","):
            out.append(self.expr())
        return out

    def expr(self, limit: int = 0):
        k = self.k[self.i]
        if k in ("not", "-", "#", "~"):
            line = self.line()
            self.i += 1
            left: A.Expr = A.UnOp(k, self.expr(_UNARY_PRIORITY), line)
        else:
            left = self.simpleexp()
            if self.k[self.i] in ("::", "name"):
                left = self.casts(left)
        while True:
            op = self.k[self.i]
            prio = _BINARY.get(op)
            if prio is None or prio[0] <= limit:
                return left
            line = self.line()
            self.i += 1
            left = A.BinOp(op, left, self.expr(prio[1]), line)

    def simpleexp(self):
        k = self.k[self.i]
        line = self.line()
        if k == "number":
            self.i += 1
            return A.Number(self.t[self.i - 1], line)
        if k == "string":
            self.i += 1
            text = self.t[self.i - 1]
            return A.String(text, line, string_value(text))
        if k == "nil":
            self.i += 1
            return A.Nil(line)
        if k == "true":
            self.i += 1
            return A.TrueE(line)
        if k == "false":
            self.i += 1
            return A.FalseE(line)
        if k == "...":
            self.i += 1
            return A.Vararg(line)
        if k == "{":
            return self.table()
        if k == "function":
            self.i += 1
            return A.Function(self.funcbody(line, False), line)
        return self.suffixedexp()

    def primaryexp(self):
        k = self.k[self.i]
        line = self.line()
        if k == "name":
            self.i += 1
            return A.Name(self.t[self.i - 1], line)
        if k == "(":
            self.i += 1
            e = self.expr()
            end = self.expect_match(")", "(", line)
            return A.Paren(e, line, end)
        self.error("unexpected symbol")

    def suffixedexp(self):
        e = self.primaryexp()
        k = self.k
        while True:
            c = k[self.i]
            line = self.line()
            if c == ".":
                self.i += 1
                e = A.Member(e, self.name(), line)
            elif c == "[":
                self.i += 1
                key = self.expr()
                self.expect("]")
                e = A.Index(e, key, line)
            elif c == ":":
                if self.peek() != "name":
                    return e
                self.i += 1
                name = self.name()
                args, end = self.callargs()
                e = A.MethodCall(e, name, args, line, end)
            elif c == "(" or c == "string" or c == "{":
                args, end = self.callargs()
                e = A.Call(e, args, line, end)
            elif c == "!":
                self.i += 1
                e = A.NonNil(e, line)
            else:
                return e

    def casts(self, e):
        """`e :: T` and `e as T` (not `::label::`, not a next statement starting with `as`)."""
        while True:
            c = self.k[self.i]
            line = self.line()
            if c == "::" and not (self.peek() == "name" and self.peek(2) == "::"):
                self.i += 1
                e = A.Cast(e, self.type_(), line)
            elif (c == "name" and self.t[self.i] == "as" and self.ln[self.i] == self.ln[self.i - 1]
                  and self.peek() in ("name", "{", "(", "nil", "string")
                  and self.peek(2) not in ("=", ",")):
                self.i += 1
                e = A.Cast(e, self.type_(), line)
            else:
                return e

    def callargs(self) -> tuple[list, int]:
        k = self.k[self.i]
        line = self.line()
        if k == "string":
            self.i += 1
            text = self.t[self.i - 1]
            return [A.String(text, line, string_value(text))], line
        if k == "{":
            t = self.table()
            return [t], t.end_line
        self.expect("(")
        if self.check(")"):
            self.i += 1
            return [], self.ln[self.i - 1]
        args = self.exprlist()
        end = self.expect_match(")", "(", line)
        return args, end

    def table(self) -> A.Table:
        line = self.line()
        self.expect("{")
        items: list[A.TableItem] = []
        while not self.check("}"):
            iline = self.line()
            if self.check("["):
                self.i += 1
                key = self.expr()
                self.expect("]")
                self.expect("=")
                items.append(A.TableItem("expr", key, self.expr(), iline))
            elif self.check("name") and self.peek() == "=":
                key = A.String('"' + self.t[self.i] + '"', iline, self.t[self.i])
                self.i += 2
                items.append(A.TableItem("name", key, self.expr(), iline))
            else:
                items.append(A.TableItem("pos", None, self.expr(), iline))
            if not (self.accept(",") or self.accept(";")):
                break
        end = self.expect_match("}", "{", line)
        return A.Table(items, line, end)


_KEYWORD_FIELDS = frozenset(("end", "function", "then", "do", "in", "repeat", "until", "return",
                             "break", "local", "nil", "true", "false", "and", "or", "not", "if",
                             "else", "elseif", "for", "while", "goto"))


def parse(src: str, chunk: str = "?") -> A.Chunk:
    """Parse a whole chunk; raises LuaSyntaxError."""
    return Parser(src, chunk).chunk_()
