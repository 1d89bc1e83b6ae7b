"""Emitter: the tree of a Wippy Lua chunk back to plain Lua 5.4, types erased.

Every token goes out on the line it came from (newlines are inserted before it as needed), so
a runtime error, a traceback or a sandbox message names the user's own line. What the types
become at run time (`type` declarations, `typeof`) is emitted on its declaration's first line,
as calls into the type runtime `__wt` (lang/types.lua).

With `preempt`, the output has yield points: a store (`__wy.p = true`) at the start of every
loop body, at the entry of every function that makes a call (recursion) and before every
backward `goto`, on the line that is already there. The engine binds `__wy` as a local above
the chunk (never a global); its count hook removes `p` once a slice has run long, so the next
store reaches `__wy`'s __newindex, which yields the process when it can; so a busy pure-Lua loop
is rescheduled instead of holding the node. No code can name `__wy`: the name is refused in
every source.
"""
from __future__ import annotations

from typing import cast

from . import ast as A
from .errors import LuaSyntaxError

YIELD_NAME = "__wy"
YIELD_POINT = f"{YIELD_NAME}.p = true"

PRIMITIVES = {
    "number": "Number", "integer": "Integer", "string": "String", "boolean": "Boolean",
    "any": "Any", "unknown": "Unknown", "nil": "Nil", "never": "Never", "table": "Table",
    "function": "Function", "thread": "Thread", "userdata": "Userdata", "error": "Error",
}


def _lua_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r").replace("\0", "\\0") + '"'


def _lua_val(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nil"
    if isinstance(v, str):
        return _lua_str(v)
    if isinstance(v, float):
        if v != v:
            return "(0/0)"
        if v in (float("inf"), float("-inf")):
            return "math.huge" if v > 0 else "-math.huge"
        return repr(v)
    return str(v)


class Emitter:
    def __init__(self, preempt: bool = False, chunk: str = "?"):
        self.preempt = preempt
        self.chunk_name = chunk
        self.labels: list[set] = [set()]     # labels emitted so far, per block of this function
        self.out: list[str] = []
        self.cur = 1
        self.scopes: list[dict] = [{}]       # local name -> declared type (for typeof)
        self.types: list[set] = [set()]      # type names declared so far, per scope
        self.generic_params: list[set] = []  # type parameters in scope (inside generic decls)
        self.exports: list[str] = []         # `export type` names of the chunk

    # ------------------------------------------------------------ output
    def put(self, text: str, line: int) -> None:
        if line > self.cur:
            self.out.append("\n" * (line - self.cur))
            self.cur = line
        else:
            self.out.append(" ")
        self.out.append(text)
        if "\n" in text:
            self.cur += text.count("\n")

    def ident(self, name: str, line: int) -> str:
        """A name of the source as a Lua variable; the yield points' own name is refused."""
        if name == YIELD_NAME:
            raise LuaSyntaxError(f"'{name}' is a reserved name", line, self.chunk_name)
        return name

    def yield_point(self) -> None:
        if self.preempt:
            self.put(YIELD_POINT, self.cur)

    def result(self) -> str:
        return "".join(self.out)

    # ------------------------------------------------------------ scopes
    def push(self):
        self.scopes.append({})
        self.types.append(set())
        self.labels.append(set())

    def pop(self):
        self.scopes.pop()
        self.types.pop()
        self.labels.pop()

    def declare(self, name: str, typ) -> None:
        self.scopes[-1][name] = typ

    def declared_type(self, name: str):
        for s in reversed(self.scopes):
            if name in s:
                return s[name]
        return None

    def type_known(self, name: str) -> bool:
        return any(name in s for s in self.types)

    # ------------------------------------------------------------ statements
    def chunk(self, chunk: A.Chunk) -> str:
        self.block_body(chunk.body, top=True)
        if chunk.body.end_line > self.cur:  # trailing blank lines and comments
            self.out.append("\n" * (chunk.body.end_line - self.cur))
        return self.result()

    def block(self, b: A.Block) -> None:
        self.push()
        self.block_body(b)
        self.pop()

    def block_body(self, b: A.Block, top: bool = False) -> None:
        for st in b.stmts:
            self.stmt(st, top)

    def stmt(self, s, top: bool = False) -> None:
        m = getattr(self, "s_" + type(s).__name__)
        m(s, top) if type(s) is A.Return else m(s)

    def s_Local(self, s: A.Local):
        self.put("local", s.line)
        for i, n in enumerate(s.names):
            if i:
                self.put(",", n.line)
            self.put(self.ident(n.name, n.line), n.line)
            if n.attrib:
                self.put("<" + n.attrib + ">", n.line)
        if s.exprs:
            self.put("=", s.line)
            self.exprlist(s.exprs, s.line)
        for n in s.names:
            self.declare(n.name, n.type)

    def s_LocalFunction(self, s: A.LocalFunction):
        self.declare(s.name, None)
        self.put("local function", s.line)
        self.put(self.ident(s.name, s.line), s.line)
        self.funcbody(s.func)

    def s_FunctionDecl(self, s: A.FunctionDecl):
        self.put("function", s.line)
        self.expr(s.target)
        if s.method:
            self.put(":", s.line)
            self.put(s.method, s.line)
        self.funcbody(s.func)

    def s_Assign(self, s: A.Assign):
        first = True
        for t in s.targets:
            if not first:
                self.put(",", t.line)
            self.expr(t, stmt_start=first)
            first = False
        self.put("=", s.line)
        self.exprlist(s.exprs, s.line)

    def s_CallStat(self, s: A.CallStat):
        self.expr(s.call, stmt_start=True)

    def s_ExprStat(self, s: A.ExprStat):
        self.put("do local _ =", s.line)
        self.expr(s.expr)
        self.put("end", self.cur)

    def s_Do(self, s: A.Do):
        self.put("do", s.line)
        self.block(s.body)
        self.put("end", s.body.end_line)

    def s_While(self, s: A.While):
        self.put("while", s.line)
        self.expr(s.cond)
        self.put("do", s.cond.line)
        self.yield_point()
        self.block(s.body)
        self.put("end", s.body.end_line)

    def s_Repeat(self, s: A.Repeat):
        self.put("repeat", s.line)
        self.yield_point()
        self.push()
        self.block_body(s.body)
        self.put("until", s.body.end_line)
        self.expr(s.cond)
        self.pop()

    def s_If(self, s: A.If):
        for i, cl in enumerate(s.clauses):
            self.put("elseif" if i else "if", cl.line)
            self.expr(cl.cond)
            self.put("then", cl.cond.line)
            self.block(cl.body)
        last = s.clauses[-1].body
        if s.orelse is not None:
            self.put("else", s.else_line)
            self.block(s.orelse)
            last = s.orelse
        self.put("end", last.end_line)

    def s_NumericFor(self, s: A.NumericFor):
        self.put("for", s.line)
        self.put(self.ident(s.var.name, s.var.line), s.var.line)
        self.put("=", s.var.line)
        self.expr(s.start)
        self.put(",", s.start.line)
        self.expr(s.stop)
        if s.step is not None:
            self.put(",", s.stop.line)
            self.expr(s.step)
        self.put("do", s.line)
        self.yield_point()
        self.push()
        self.declare(s.var.name, s.var.type)
        self.block(s.body)
        self.pop()
        self.put("end", s.body.end_line)

    def s_GenericFor(self, s: A.GenericFor):
        self.put("for", s.line)
        for i, n in enumerate(s.names):
            if i:
                self.put(",", n.line)
            self.put(self.ident(n.name, n.line), n.line)
        self.put("in", s.line)
        self.exprlist(s.exprs, s.line)
        self.put("do", s.line)
        self.yield_point()
        self.push()
        for n in s.names:
            self.declare(n.name, n.type)
        self.block(s.body)
        self.pop()
        self.put("end", s.body.end_line)

    def s_Return(self, s: A.Return, top: bool = False):
        self.put("return", s.line)
        if top and self.exports and s.exprs:
            # exported types travel with a library's returned table
            self.put("__wt.export({" + ", ".join(f"{n} = {n}" for n in self.exports) + "},", s.line)
            self.exprlist(s.exprs, s.line)
            self.put(")", s.line)
            return
        if s.exprs:
            self.exprlist(s.exprs, s.line)

    def s_Break(self, s: A.Break):
        self.put("break", s.line)

    def s_Goto(self, s: A.Goto):
        if any(s.label in b for b in self.labels):   # a visible label already seen: a loop
            self.yield_point()
        self.put("goto", s.line)
        self.put(s.label, s.line)

    def s_Label(self, s: A.Label):
        self.put("::" + s.name + "::", s.line)
        self.labels[-1].add(s.name)

    def s_TypeDecl(self, s: A.TypeDecl):
        # declared before its value is built, so a recursive reference finds it
        self.ident(s.name, s.line)
        self.put(f"local {s.name}; {s.name} =", s.line)
        if s.generics:
            params = [self.ident(g.name, s.line) for g in s.generics]
            self.generic_params.append(set(params))
            self.types[-1].add(s.name)
            body = self.type_value(s.type, s.name)
            self.generic_params.pop()
            names = ", ".join(_lua_str(p) for p in params)
            self.put(f"__wt.generic({_lua_str(s.name)}, {{{names}}}, function({', '.join(params)}) "
                     f"return {body} end)", s.line)
        else:
            self.types[-1].add(s.name)
            self.put(f"__wt.named({_lua_str(s.name)}, {self.type_value(s.type, s.name)})", s.line)
        self.declare(s.name, None)
        if s.exported:
            self.exports.append(s.name)

    # ------------------------------------------------------------ functions
    def funcbody(self, f: A.FuncBody):
        self.put("(", f.line)
        names = [self.ident(p.name, p.line) for p in f.params]
        if f.is_vararg:
            names.append("...")
        self.put(", ".join(names), f.line)
        self.put(")", f.line)
        if _calls(f.body):   # a function that calls nothing cannot loop without a loop of its own
            self.yield_point()
        outer_labels, self.labels = self.labels, [set()]   # labels are not visible in a nested function
        self.push()
        if f.is_method:
            self.declare("self", None)
        for p in f.params:
            self.declare(p.name, p.type)
        self.block_body(f.body)
        self.pop()
        self.labels = outer_labels
        self.put("end", f.end_line)

    # ------------------------------------------------------------ expressions
    def exprlist(self, exprs: list, line: int):
        for i, e in enumerate(exprs):
            if i:
                self.put(",", e.line)
            self.expr(e)

    def expr(self, e, stmt_start: bool = False):
        t = type(e)
        if t is A.Name:
            self.put(self.ident(e.name, e.line), e.line)
        elif t is A.Number:
            self.put(e.text, e.line)
        elif t is A.String:
            self.put(e.text, e.line)
        elif t is A.Nil:
            self.put("nil", e.line)
        elif t is A.TrueE:
            self.put("true", e.line)
        elif t is A.FalseE:
            self.put("false", e.line)
        elif t is A.Vararg:
            self.put("...", e.line)
        elif t is A.BinOp:
            self.expr(e.left, stmt_start)
            self.put(e.op, e.line)
            self.expr(e.right)
        elif t is A.UnOp:
            self.put(e.op, e.line)
            self.expr(e.operand)
        elif t is A.Paren:
            self.put(";(" if stmt_start else "(", e.line)
            self.expr(e.expr)
            self.put(")", e.end_line)
        elif t is A.Member:
            self.expr(e.obj, stmt_start)
            self.put("." + e.name, e.line)
        elif t is A.Index:
            self.expr(e.obj, stmt_start)
            self.put("[", e.line)
            self.expr(e.key)
            self.put("]", e.key.line)
        elif t is A.Call:
            f = e.func
            if type(f) is A.Name and f.name == "typeof" and len(e.args) == 1 and type(e.args[0]) is A.Name:
                declared = self.declared_type(e.args[0].name)
                if declared is not None:
                    self.put(f"__wt.typeof({e.args[0].name}, {self.type_value(declared)})", e.line)
                    return
            self.expr(f, stmt_start)
            self.args(e.args, e.line, e.end_line)
        elif t is A.MethodCall:
            self.expr(e.obj, stmt_start)
            self.put(":" + e.name, e.line)
            self.args(e.args, e.line, e.end_line)
        elif t is A.Function:
            self.put("function", e.line)
            self.funcbody(e.func)
        elif t is A.Table:
            self.table(e)
        elif t is A.NonNil or t is A.Cast:
            self.expr(e.expr, stmt_start)
        else:
            raise TypeError(f"cannot emit {t.__name__}")

    def args(self, args: list, line: int, end_line: int):
        self.put("(", line)
        self.exprlist(args, line)
        self.put(")", max(end_line, self.cur if not args else 0, line))

    def table(self, e: A.Table):
        self.put("{", e.line)
        for i, it in enumerate(e.items):
            if i:
                self.put(",", it.line)
            if it.kind == "name":
                self.put(cast(A.String, it.key).value, it.line)   # a name item's key is its String
                self.put("=", it.line)
            elif it.kind == "expr":
                key = cast(A.Expr, it.key)   # an expr item has its key
                self.put("[", it.line)
                self.expr(key)
                self.put("]", key.line)
                self.put("=", key.line)
            self.expr(it.value)
        self.put("}", e.end_line)

    # ------------------------------------------------------------ types as values
    def type_value(self, t, self_name: str | None = None) -> str:
        """Lua expression building the run-time value of type t (see types.lua)."""
        tv = self.type_value
        k = type(t)
        if k is A.TName:
            prim = PRIMITIVES.get(t.name)
            if prim and not t.args:
                return "__wt." + prim
            if self.generic_params and any(t.name in g for g in self.generic_params):
                return t.name
            if t.name == self_name or "." in t.name or not self.type_known(t.name):
                ref = f"__wt.lazy(function() return {t.name} end, {_lua_str(t.name)})"
            else:
                ref = t.name
            if t.args:
                return f"__wt.apply({ref}, {{{', '.join(tv(a) for a in t.args)}}})"
            return ref
        if k is A.TLiteral:
            return f"__wt.literal({_lua_val(t.value)})"
        if k is A.TOptional:
            return f"__wt.optional({tv(t.inner, self_name)})"
        if k is A.TUnion:
            return f"__wt.union({{{', '.join(tv(m, self_name) for m in t.members)}}})"
        if k is A.TIntersection:
            return f"__wt.intersection({{{', '.join(tv(m, self_name) for m in t.members)}}})"
        if k is A.TArray:
            return f"__wt.array({tv(t.elem, self_name)})"
        if k is A.TMap:
            return f"__wt.map({tv(t.key, self_name)}, {tv(t.val, self_name)})"
        if k is A.TRecord:
            parts = []
            for f in t.fields:
                parts.append(f"{_lua_str(f.name)}, {tv(f.type, self_name)}, {'true' if f.optional else 'false'}")
            return f"__wt.record({{{', '.join(parts)}}})"
        if k is A.TFunction:
            ps = ", ".join(tv(p.type, self_name) for p in t.params)
            rs = ", ".join(tv(r, self_name) for r in t.returns)
            return f"__wt.func({{{ps}}}, {{{rs}}})"
        if k is A.TValidated:
            vs = ", ".join("{" + ", ".join([_lua_str(v.name)] + [_lua_val(a) for a in v.args]) + "}"
                           for v in t.validators)
            return f"__wt.validated({tv(t.base, self_name)}, {{{vs}}})"
        if k is A.TTypeof:
            inner = Emitter()
            inner.scopes = self.scopes
            inner.expr(t.expr)
            return f"typeof({inner.result().strip()})"
        raise TypeError(f"cannot emit type {k.__name__}")


def _calls(node) -> bool:
    """Whether a function body makes a call, outside the functions nested in it."""
    t = type(node)
    if t is A.Call or t is A.MethodCall:
        return True
    if t is A.Function or t is A.FuncBody:
        return False
    if isinstance(node, list):
        return any(_calls(x) for x in node)
    fields = getattr(node, "__dataclass_fields__", None)
    return fields is not None and any(_calls(getattr(node, name)) for name in fields)


def emit(chunk: A.Chunk, preempt: bool = False) -> str:
    return Emitter(preempt, chunk.name).chunk(chunk)
