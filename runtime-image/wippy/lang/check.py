"""The type checker: walks a chunk's tree, infers and checks types, flow-sensitively.

Each variable has a declared type (its annotation, if any) and a current type that conditions
narrow (`if x`, `type(x) ==`, `x ~= nil`, tag comparisons, `T:is(x)`, early returns, `or`
defaults). Diagnostics carry a code (see CODES), the line and a message.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, cast

from . import ast as A
from .typesys import (ANY, BOOLEAN, ERROR, FUNCTION, INTEGER, NEVER, NIL, NUMBER, PRIMS, STRING,
                      TABLE, UNKNOWN, Arr, Fn, Generic, Lit, Map, Prim, Rec, T, TVar, TypeVal, Union,
                      assignable, falsy, is_nilable, lua_type_name, members, missing_field, nonnil,
                      optional, show, truthy, union, widen)

CODES = {
    "P0001": "Lua syntax error",
    "E0001": "type mismatch: a value not assignable to the expected type",
    "E0002": "undefined variable",
    "E0003": "a possibly nil value used where a value is required",
    "E0004": "wrong number of arguments",
    "E0005": "unknown field of a record type",
    "E0006": "invalid operation for the operand types",
    "E0007": "call of a value that is not a function",
    "E0008": "require of a module not declared in imports or modules",
    "E0009": "unknown type name",
    "E0010": "missing return value",
    "E0011": "a literal value that breaks a validator of its declared type",
    "W0001": "no-empty-blocks",
    "W0002": "no-global-assign",
    "W0003": "no-self-compare",
    "W0004": "no-unused-vars",
    "W0005": "no-unused-params",
    "W0006": "no-unused-imports",
    "W0007": "no-shadowed-vars",
}


@dataclass
class Diagnostic:
    code: str
    line: int
    message: str
    column: int = 1

    @property
    def severity(self) -> str:
        return "warning" if self.code.startswith("W") else "error"


class Var:
    __slots__ = ("name", "declared", "cur", "line", "used", "kind", "companions", "err", "local")

    def __init__(self, name, declared, cur, line, kind="local"):
        self.name = name
        self.declared = declared
        self.cur = cur
        self.line = line
        self.used = False
        self.kind = kind          # local | param | import | global
        self.companions: tuple[Optional[Var], ...] = ()   # `local v, err = f()`: err's falsiness makes v non-nil
        self.err: Optional[Var] = None    # ... and v's falsiness makes err non-nil (`if not ok then ... err`)
        self.local = True


class Env:
    """Current types along one control-flow path: var -> type, plus narrowed member paths."""
    __slots__ = ("types", "paths")

    def __init__(self, types=None, paths=None):
        self.types = types if types is not None else {}
        self.paths = paths if paths is not None else {}

    def copy(self) -> "Env":
        return Env(dict(self.types), dict(self.paths))


_ARITH = {"+", "-", "*", "/", "//", "%", "^"}
_CMP = {"<", ">", "<=", ">="}
_BIT = {"&", "|", "~", "<<", ">>"}
_TYPE_NAMES = {"number": NUMBER, "string": STRING, "boolean": BOOLEAN, "table": TABLE,
               "function": FUNCTION, "nil": NIL, "thread": Prim("thread"), "userdata": Prim("userdata")}


class Checker:
    def __init__(self, globals_: dict, resolve_require: Callable[[str, int], Optional[T]],
                 rules: bool = False, entry_method: Optional[str] = None):
        self.globals = globals_              # builtin name -> type
        self.resolve_require = resolve_require
        self.rules = rules
        self.entry_method = entry_method
        self.diags: list[Diagnostic] = []
        self.scopes: list[dict] = [{}]       # name -> Var
        self.type_scopes: list[dict] = [{}]  # type name -> T / Generic
        self.env: Optional[Env] = Env()   # None: the code here is unreachable
        self.fn_stack: list[Fn] = []
        self.user_globals: dict[str, T] = {}
        self.exports: dict[str, T] = {}
        self.returned: Optional[T] = None
        self.vararg_types: list = []         # type of `...` per enclosing function

    # ------------------------------------------------------------ diagnostics
    def report(self, code: str, line: int, message: str) -> None:
        self.diags.append(Diagnostic(code, line, message))

    # ------------------------------------------------------------ scopes
    def push(self):
        self.scopes.append({})
        self.type_scopes.append({})

    def pop(self):
        scope = self.scopes.pop()
        self.type_scopes.pop()
        if self.rules:
            for v in scope.values():
                if not v.used and not v.name.startswith("_"):
                    if v.kind == "import":
                        self.report("W0006", v.line, f"unused import '{v.name}'")
                    elif v.kind == "param":
                        if v.name != "self":
                            self.report("W0005", v.line, f"unused parameter '{v.name}'")
                    elif v.kind == "local":
                        self.report("W0004", v.line, f"unused variable '{v.name}'")
        types = self.live().types
        for v in scope.values():
            types.pop(id(v), None)

    def declare(self, name: str, declared: Optional[T], cur: T, line: int, kind: str = "local") -> Var:
        if self.rules and kind != "type" and name != "_" and not name.startswith("_"):
            for s in self.scopes[1:-1] if len(self.scopes) > 1 else ():
                if name in s and s[name].kind in ("local", "param", "import"):
                    self.report("W0007", line, f"'{name}' shadows a variable of an outer scope (line {s[name].line})")
                    break
        v = Var(name, declared, cur, line, kind)
        self.scopes[-1][name] = v
        self.live().types[id(v)] = cur
        self.kill_paths(name)
        return v

    def lookup(self, name: str) -> Optional[Var]:
        for s in reversed(self.scopes):
            v = s.get(name)
            if v is not None:
                return v
        return None

    def live(self) -> Env:
        """The types along the current path: asked only while checking reachable code."""
        env = self.env
        assert env is not None
        return env

    def cur(self, v: Var) -> T:
        return self.live().types.get(id(v), v.declared or ANY)

    def set_cur(self, v: Var, t: T) -> None:
        self.live().types[id(v)] = t
        self.kill_paths(v.name)

    def kill_paths(self, prefix: str) -> None:
        paths = self.live().paths
        if paths:
            for p in [p for p in paths if p == prefix or p.startswith(prefix + ".")]:
                del paths[p]

    def merge(self, maybe: list[Optional[Env]]) -> Optional[Env]:
        envs = [e for e in maybe if e is not None]
        if not envs:
            return None
        if len(envs) == 1:
            return envs[0]
        keys = set(envs[0].types)
        for e in envs[1:]:
            keys &= set(e.types)
        types = {k: union(*(e.types[k] for e in envs)) for k in keys}
        pkeys = set(envs[0].paths)
        for e in envs[1:]:
            pkeys &= set(e.paths)
        paths = {k: union(*(e.paths[k] for e in envs)) for k in pkeys}
        return Env(types, paths)

    # ------------------------------------------------------------ type expressions
    def lookup_type(self, name: str):
        for s in reversed(self.type_scopes):
            t = s.get(name)
            if t is not None:
                return t
        return None

    def resolve(self, node, tvars: Optional[dict] = None) -> T:
        """AST type -> checker type. Unknown names are reported (E0009) and become any."""
        k = type(node)
        if k is A.TName:
            if tvars and node.name in tvars:
                return tvars[node.name]
            t = self.lookup_type(node.name)
            if t is None and "." in node.name:
                head, _, rest = node.name.partition(".")
                v = self.lookup(head)
                mod = self.cur(v) if v else self.globals.get(head)
                member = self.member_type(mod, rest, node.line, report=False) if mod is not None else None
                if type(member) is TypeVal:
                    return member.of
                if mod is None or (type(mod) is Rec and rest not in mod.fields):
                    self.report("E0009", node.line, f"unknown type '{node.name}'")
                return ANY
            if t is None:
                p = PRIMS.get(node.name)
                if p is not None:
                    return p
                self.report("E0009", node.line, f"unknown type '{node.name}'")
                return ANY
            if type(t) is Generic:
                args = [self.resolve(a, tvars) for a in node.args]
                return self.instantiate(t, args)
            return t
        if k is A.TLiteral:
            return NIL if node.value is None else Lit(node.value)
        if k is A.TOptional:
            return optional(self.resolve(node.inner, tvars))
        if k is A.TUnion:
            return union(*(self.resolve(m, tvars) for m in node.members))
        if k is A.TIntersection:
            parts = [self.resolve(m, tvars) for m in node.members]
            recs = [part for part in parts if isinstance(part, Rec)]
            if len(recs) == len(parts):
                fields = {}
                for rec in recs:
                    fields.update(rec.fields)
                return Rec(fields)
            return parts[0] if parts else ANY
        if k is A.TArray:
            return Arr(self.resolve(node.elem, tvars))
        if k is A.TMap:
            return Map(self.resolve(node.key, tvars), self.resolve(node.val, tvars))
        if k is A.TRecord:
            return Rec({f.name: (self.resolve(f.type, tvars), f.optional) for f in node.fields})
        if k is A.TFunction:
            inner = dict(tvars or {})
            gens = []
            for g in node.generics:
                tv = TVar(g.name, self.resolve(g.constraint, inner) if g.constraint else None)
                inner[g.name] = tv
                gens.append((g.name, tv.constraint))
            return Fn([(p.name, self.resolve(p.type, inner), p.optional) for p in node.params],
                      [self.resolve(r, inner) for r in node.returns],
                      self.resolve(node.variadic, inner) if node.variadic else None, gens,
                      self.resolve(node.ret_variadic, inner) if node.ret_variadic else None)
        if k is A.TValidated:
            return self.resolve(node.base, tvars)
        if k is A.TTypeof:
            return self.expr(node.expr)
        return ANY

    def instantiate(self, g: Generic, args: list[T]) -> T:
        tvars = {}
        for i, p in enumerate(g.params):
            tvars[p] = args[i] if i < len(args) else ANY
        saved = self.type_scopes
        self.type_scopes = g.scope
        try:
            t = self.resolve(g.body, tvars)
        finally:
            self.type_scopes = saved
        if type(t) is Rec and t.name is None:
            t = Rec(t.fields, g.name)
        return t

    # ------------------------------------------------------------ chunks
    def check_chunk(self, chunk: A.Chunk) -> None:
        self.collect_globals(chunk.body)
        self.block(chunk.body, top=True)

    def collect_globals(self, block: A.Block) -> None:
        """Names assigned as globals anywhere in the chunk are defined (their type is any)."""
        def walk_stmts(stmts, locals_: set):
            for s in stmts:
                k = type(s)
                if k is A.FunctionDecl and type(s.target) is A.Name and s.target.name not in locals_:
                    self.user_globals.setdefault(s.target.name, ANY)
                elif k is A.Assign:
                    for t in s.targets:
                        if type(t) is A.Name and t.name not in locals_:
                            self.user_globals.setdefault(t.name, ANY)
                elif k is A.Local:
                    locals_ = locals_ | {n.name for n in s.names}
                elif k is A.LocalFunction:
                    locals_ = locals_ | {s.name}
                for b in _child_blocks(s):
                    walk_stmts(b.stmts, locals_)
        walk_stmts(block.stmts, set())

    def block(self, b: A.Block, top: bool = False, scope: bool = True) -> bool:
        """Check a block; True when it always terminates (return, error(), break)."""
        if scope:
            self.push()
        terminated = False
        for st in b.stmts:
            if self.env is None:
                break
            if self.stmt(st, top):
                terminated = True
                self.env = None
                break
        if scope:
            if self.env is None:
                self.env = Env()
                self.pop()
                self.env = None
            else:
                self.pop()
        return terminated

    # ------------------------------------------------------------ statements
    def stmt(self, s, top: bool = False) -> bool:
        k = type(s)
        if k is A.Local:
            self.s_local(s)
        elif k is A.Assign:
            self.s_assign(s)
        elif k is A.CallStat:
            t = self.expr(s.call)
            if t is NEVER:
                return True
        elif k is A.ExprStat:
            self.expr(s.expr)
        elif k is A.LocalFunction:
            v = self.declare(s.name, None, ANY, s.line, "function")
            v.used = True
            # the signature is known before the body is checked: recursion is typed
            ft = self.function(s.func, s.name, on_signature=lambda sig: self.set_cur(v, sig))
            v.declared = ft
            self.set_cur(v, ft)
        elif k is A.FunctionDecl:
            self.s_function_decl(s)
        elif k is A.If:
            return self.s_if(s)
        elif k is A.While:
            self.s_while(s)
            if type(s.cond) is A.TrueE and not _breaks(s.body):
                return True   # `while true do` without a break never falls through
        elif k is A.Repeat:
            self.push()
            before = self.live().copy()
            self.block(s.body, scope=False)
            if self.env is not None:
                self.expr(s.cond)
            self.pop()
            self.env = self.merge([before, self.env]) or before
        elif k is A.Do:
            if self.rules and not s.body.stmts:
                self.report("W0001", s.line, "empty block")
            return self.block(s.body)
        elif k is A.NumericFor:
            self.s_numeric_for(s)
        elif k is A.GenericFor:
            self.s_generic_for(s)
        elif k is A.Return:
            self.s_return(s, top)
            return True
        elif k is A.Break:
            return True
        elif k is A.Goto:
            return s.label != "continue"
        elif k is A.TypeDecl:
            self.s_type_decl(s)
        return False

    def s_type_decl(self, s: A.TypeDecl) -> None:
        if s.generics:
            g = Generic(s.name, [x.name for x in s.generics], s.type, [])
            self.type_scopes[-1][s.name] = g
            g.scope = [dict(sc) for sc in self.type_scopes]
            g.scope[-1][s.name] = g
            t = self.instantiate(g, [ANY] * len(s.generics))
        else:
            placeholder = Rec({}, s.name, open=True)
            self.type_scopes[-1][s.name] = placeholder
            t = self.resolve(s.type)
            if type(t) is Rec:
                t = Rec(t.fields, s.name, t.open)
            elif type(t) is Fn:
                t = Fn(t.params, t.rets, t.variadic, t.generics, t.ret_variadic, s.name)
            self.type_scopes[-1][s.name] = t
            # recursive references resolved to the placeholder: point them at the real type
            if type(t) is Rec:
                placeholder.fields = t.fields
                placeholder.open = False
        v = self.declare(s.name, TypeVal(t, s.name), TypeVal(t, s.name), s.line, "type")
        v.used = True
        if s.exported:
            self.exports[s.name] = TypeVal(t, s.name)

    def s_local(self, s: A.Local) -> None:
        declared = [self.resolve(n.type) if n.type is not None else None for n in s.names]
        values = self.exprs(s.exprs, len(s.names), [d for d in declared])
        for i, n in enumerate(s.names):
            val = values[i] if i < len(values) else NIL
            d = declared[i]
            line = s.exprs[i].line if i < len(s.exprs) else s.line
            if d is not None:
                if i < len(s.exprs) or len(s.exprs) > 0:
                    self.check_assign(val, d, line, s.exprs[i] if i < len(s.exprs) else None)
                elif not is_nilable(d) and d not in (ANY, UNKNOWN):
                    pass  # declared without a value: assigned later
                cur = d
                if is_nilable(d) and i < len(values) and not is_nilable(val) and d not in (ANY, UNKNOWN) and val is not ANY:
                    cur = nonnil(d)
                kind = "local"
            else:
                # `local x` / `local x = nil` without a type is assigned later, maybe by a closure
                # this flow cannot follow: gradual, as an untyped variable
                cur = ANY if val is NIL else widen(val)
                kind = "local"
            if n.type is not None and i < len(s.exprs):
                self.check_validators(n.type, s.exprs[i], line)
            init = s.exprs[i] if i < len(s.exprs) else None
            is_import = (type(init) is A.Call and type(init.func) is A.Name and init.func.name == "require")
            v = self.declare(n.name, d, cur, n.line, "import" if is_import else kind)
            if self.rules and n.attrib == "close":
                v.used = True
        # `local v, err = f()`: once err is known to be nil, the values are not nil
        if len(s.names) >= 2 and len(s.exprs) == 1 and type(s.exprs[0]) in (A.Call, A.MethodCall):
            err = self.lookup(s.names[-1].name)
            assert err is not None   # declared just above
            err.companions = tuple(self.lookup(n.name) for n in s.names[:-1])
            for c in err.companions:
                if c is not None:
                    c.err = err

    def check_assign(self, val: T, declared: T, line: int, node) -> None:
        if not assignable(val, declared):
            self.report("E0001", line, _assign_msg(val, declared))

    def check_validators(self, node, value, line: int) -> None:
        """A literal checked against the validators of its annotation (`x: number @min(0) = -1`)."""
        if type(node) is not A.TValidated:
            return
        k = type(value)
        if k is A.UnOp and value.op == "-" and type(value.operand) is A.Number:
            v = -value.operand.value
        elif k is A.Number:
            v = value.value
        elif k is A.String:
            v = value.value
        else:
            return
        for rule in node.validators:
            arg = rule.args[0] if rule.args else None
            if rule.name in ("min", "max") and isinstance(v, (int, float)) and isinstance(arg, (int, float)):
                bad = v < arg if rule.name == "min" else v > arg
            elif rule.name in ("min_len", "max_len") and isinstance(v, str) and isinstance(arg, (int, float)):
                bad = len(v) < arg if rule.name == "min_len" else len(v) > arg
            else:
                continue
            if bad:
                self.report("E0011", line, f"{v!r} violates @{rule.name}({arg})".replace("'", '"'))

    def s_assign(self, s: A.Assign) -> None:
        expected = []
        for t in s.targets:
            if type(t) is A.Name:
                v = self.lookup(t.name)
                expected.append(v.declared if v else None)
            else:
                expected.append(None)
        values = self.exprs(s.exprs, len(s.targets), expected)
        for i, target in enumerate(s.targets):
            val = values[i] if i < len(values) else NIL
            line = s.exprs[i].line if i < len(s.exprs) else s.line
            if type(target) is A.Name:
                v = self.lookup(target.name)
                if v is None:
                    if self.rules and target.name != self.entry_method:
                        self.report("W0002", target.line, f"assignment to global '{target.name}'")
                    continue
                if v.declared is not None and v.kind != "type":
                    self.check_assign(val, v.declared, line, s.exprs[i] if i < len(s.exprs) else None)
                    cur = v.declared
                    if is_nilable(v.declared) and not is_nilable(val) and val not in (ANY,):
                        cur = nonnil(v.declared)
                    self.set_cur(v, cur)
                else:
                    self.set_cur(v, widen(val))
            else:
                assert isinstance(target, (A.Member, A.Index))   # what the parser lets be assigned
                obj_t = self.expr(target.obj)
                self.check_indexable(obj_t, target.obj, target.line)
                if isinstance(target, A.Member):
                    rec = _single_record(obj_t)
                    if rec is not None and not rec.open:
                        f = rec.fields.get(target.name)
                        if f is None:
                            self.report("E0005", target.line, f"field '{target.name}' does not exist on {show(rec)}")
                        else:
                            self.check_assign(val, f[0] if not f[1] else optional(f[0]), line, None)
                    path = _path(target)
                    if path:
                        self.kill_paths(path)
                else:
                    self.expr(target.key)

    def s_function_decl(self, s: A.FunctionDecl) -> None:
        self_type = None
        if s.method:
            self_type = self.expr(s.target)
        elif type(s.target) is not A.Name:
            self.expr(s.target.obj if hasattr(s.target, "obj") else s.target)
        name = _path(s.target) or "function"
        ft = self.function(s.func, name + (":" + s.method if s.method else ""), self_type)
        if s.method:
            rec = _single_record(self_type)
            if rec is not None and rec.open:
                rec.fields[s.method] = (ft, False)
        elif type(s.target) is A.Name:
            v = self.lookup(s.target.name)
            if v is None:
                self.user_globals[s.target.name] = ft
                if self.rules and s.target.name != self.entry_method:
                    self.report("W0002", s.line, f"assignment to global '{s.target.name}'")
            elif v.declared is None:
                self.set_cur(v, ft)
        elif type(s.target) is A.Member and not s.method:
            rec = _single_record(self.expr(s.target.obj))
            if rec is not None and rec.open:
                rec.fields[s.target.name] = (ft, False)

    def s_if(self, s: A.If) -> bool:
        ends: list[Optional[Env]] = []
        all_terminate = True
        for cl in s.clauses:
            self.expr(cl.cond)
            t_env, f_env = self.narrow(cl.cond, self.env)
            self.env = t_env
            if self.rules and not cl.body.stmts:
                self.report("W0001", cl.line, "empty block")
            term = self.block(cl.body)
            if not term:
                all_terminate = False
                ends.append(self.env)
            self.env = f_env
        if s.orelse is not None:
            term = self.block(s.orelse)
            if not term:
                all_terminate = False
                ends.append(self.env)
        else:
            all_terminate = False
            ends.append(self.env)
        if all_terminate:
            self.env = Env()
            return True
        self.env = self.merge(ends)
        return False

    def s_while(self, s: A.While) -> None:
        self.expr(s.cond)
        t_env, f_env = self.narrow(s.cond, self.env)
        before = self.env
        self.env = t_env
        if self.rules and not s.body.stmts:
            self.report("W0001", s.line, "empty block")
        self.block(s.body)
        self.env = self.merge([f_env, self.env]) or f_env or before

    def s_numeric_for(self, s: A.NumericFor) -> None:
        bounds = (s.start, s.stop) + ((s.step,) if s.step else ())
        ts = [self.expr(e) for e in bounds]
        for e, t in zip(bounds, ts):
            self.check_number(t, e.line, "for loop bound")
        vt: T = INTEGER if all(assignable(t, INTEGER) for t in ts) else NUMBER
        if s.var.type is not None:
            vt = self.resolve(s.var.type)
        before = self.live().copy()
        self.push()
        v = self.declare(s.var.name, None, vt, s.var.line)
        v.used = True
        self.block(s.body)
        self.pop_keep()
        self.env = self.merge([before, self.env]) or before

    def pop_keep(self):
        env = self.env
        if env is None:
            self.env = Env()
        self.pop()
        if env is None:
            self.env = None

    def s_generic_for(self, s: A.GenericFor) -> None:
        types = self.iter_types(s.exprs, len(s.names))
        before = self.live().copy()
        self.push()
        for i, n in enumerate(s.names):
            t = self.resolve(n.type) if n.type is not None else (types[i] if i < len(types) else ANY)
            v = self.declare(n.name, None, t, n.line)
            if i == 0 or n.name == "_":
                v.used = v.used or n.name == "_"
        self.block(s.body)
        self.pop_keep()
        self.env = self.merge([before, self.env]) or before

    def iter_types(self, exprs: list, n: int) -> list[T]:
        call = exprs[0] if len(exprs) == 1 else None
        if type(call) is A.Call and type(call.func) is A.Name and \
                call.func.name in ("ipairs", "pairs") and self.lookup(call.func.name) is None:
            fname = call.func.name
            arg = self.expr(call.args[0]) if call.args else ANY
            for a in call.args[1:]:
                self.expr(a)
            if is_nilable(arg) and arg is not ANY:
                self.report("E0003", call.line, f"bad argument to '{fname}': {show(arg)} may be nil")
            arg = nonnil(arg)
            if type(arg) is Arr:
                return [INTEGER, arg.elem]
            if type(arg) is Map:
                return [arg.key, arg.val]
            if type(arg) is Rec and not arg.open and fname == "pairs":
                return [STRING, union(*(ft for ft, _ in arg.fields.values())) if arg.fields else ANY]
            if type(arg) is Prim and arg.name in ("string", "number", "integer", "boolean"):
                self.report("E0001", call.line, f"{show(arg)} not assignable to table")
            return [INTEGER if fname == "ipairs" else ANY, ANY]
        for e in exprs:
            t = self.expr(e)
            if is_nilable(t) and t is not ANY and len(exprs) == 1 and type(e) is not A.Call and type(e) is not A.MethodCall:
                self.report("E0003", e.line, f"cannot iterate over a possibly nil value ({show(t)})")
        return [ANY] * n

    def s_return(self, s: A.Return, top: bool) -> None:
        fn = self.fn_stack[-1] if self.fn_stack else None
        expected = fn.rets if fn is not None and fn.rets is not None else None
        values = self.exprs(s.exprs, len(expected) if expected else max(1, len(s.exprs)),
                            expected)
        if top:
            self.returned = values[0] if values else NIL
        if expected is None:
            return
        multi_tail = s.exprs and type(s.exprs[-1]) in (A.Call, A.MethodCall, A.Vararg)
        for i, r in enumerate(expected):
            if i < len(values):
                v = values[i]
            elif multi_tail:
                v = ANY
            else:
                v = NIL
            line = s.exprs[i].line if i < len(s.exprs) else s.line
            if i >= len(s.exprs) and not multi_tail and not is_nilable(r) and r not in (ANY, UNKNOWN) and type(r) is not TVar:
                self.report("E0010", s.line, f"missing return value {i + 1} ({show(r)})")
                continue
            if not assignable(v, r):
                self.report("E0001", line, f"{show(v)} not assignable to return type {show(r)}")
        rv = fn.ret_variadic if fn is not None else None
        if rv is not None:
            for i in range(len(expected), len(s.exprs)):
                if i < len(values) and not assignable(values[i], rv):
                    self.report("E0001", s.exprs[i].line, f"{show(values[i])} not assignable to return type {show(rv)}")

    # ------------------------------------------------------------ functions
    def function(self, f: A.FuncBody, name: Optional[str] = None, self_type: Optional[T] = None,
                 on_signature=None) -> Fn:
        tvars: dict[str, T] = {}
        gens = []
        for g in f.generics:
            tv = TVar(g.name, self.resolve(g.constraint, tvars) if g.constraint else None)
            tvars[g.name] = tv
            gens.append((g.name, tv.constraint))
        self.push()
        for gname, _c in gens:
            self.type_scopes[-1][gname] = tvars[gname]
        params = []
        for p in f.params:
            pt = self.resolve(p.type, tvars) if p.type is not None else ANY
            if p.optional:
                pt = optional(pt)
            params.append((p.name, pt, p.optional))
        rets = [self.resolve(r, tvars) for r in f.returns] if f.returns is not None else None
        variadic = self.resolve(f.vararg_type, tvars) if f.vararg_type is not None else (ANY if f.is_vararg else None)
        ret_variadic = self.resolve(f.ret_variadic, tvars) if f.ret_variadic is not None else None
        ft = Fn(params, rets, variadic, gens, ret_variadic, None, f.is_method)
        outer_env = self.env
        if on_signature is not None:
            on_signature(ft)
        self.env = outer_env.copy() if outer_env is not None else Env()
        if f.is_method:
            v = self.declare("self", None, self_type or ANY, f.line, "param")
            v.used = True
        for p, (pname, pt, _o) in zip(f.params, params):
            self.declare(pname, pt if p.type is not None else None, pt, p.line, "param")
        self.fn_stack.append(ft)
        self.vararg_types.append(variadic)
        term = self.block(f.body, scope=False)
        if rets and not term and self.env is not None:
            # falling off the end returns nothing
            needs = [r for r in rets if not is_nilable(r) and r not in (ANY, UNKNOWN) and type(r) is not TVar and r != NEVER]
            if needs and not _ends_in_exhaustive_if(f.body):
                self.report("E0010", f.end_line, f"function can reach its end without returning {show(needs[0])}")
        self.vararg_types.pop()
        self.fn_stack.pop()
        if self.env is None:
            self.env = Env()
        self.pop()
        self.env = outer_env
        return ft

    # ------------------------------------------------------------ expressions
    def exprs(self, exprs: list, want: int, expected: Optional[list] = None) -> list[T]:
        out: list[T] = []
        for i, e in enumerate(exprs):
            exp = expected[i] if expected and i < len(expected) else None
            if i == len(exprs) - 1 and type(e) in (A.Call, A.MethodCall, A.Vararg):
                out.extend(self.multi(e, exp))
            else:
                out.append(self.expr(e, exp))
        return out

    def multi(self, e, expected: Optional[T] = None) -> list[T]:
        """All values of a call or `...`."""
        if type(e) is A.Vararg:
            vt = self.vararg_types[-1] if self.vararg_types else ANY
            return [vt or ANY] * 8
        rets = self.call(e)
        return rets if rets is not None else [ANY] * 8

    def expr(self, e, expected: Optional[T] = None) -> T:
        k = type(e)
        if k is A.Name:
            return self.name(e)
        if k is A.Number:
            return Lit(e.value)
        if k is A.String:
            return Lit(e.value)
        if k is A.Nil:
            return NIL
        if k is A.TrueE:
            return Lit(True)
        if k is A.FalseE:
            return Lit(False)
        if k is A.Vararg:
            return self.multi(e)[0]
        if k is A.Paren:
            return self.expr(e.expr, expected)
        if k is A.NonNil:
            return nonnil(self.expr(e.expr))
        if k is A.Cast:
            self.expr(e.expr)
            return self.resolve(e.type)
        if k is A.Table:
            return self.table(e, expected)
        if k is A.Function:
            return self.function(e.func)
        if k is A.Call or k is A.MethodCall:
            rets = self.call(e)
            return rets[0] if rets else (ANY if rets is None else NIL)
        if k is A.Member:
            path = _path(e)
            paths = self.live().paths
            if path and path in paths:
                self.expr(e.obj)
                return paths[path]
            obj = self.expr(e.obj)
            self.check_indexable(obj, e.obj, e.line)
            t = self.member_type(nonnil(obj), e.name, e.line)
            return ANY if t is None else t
        if k is A.Index:
            obj = self.expr(e.obj)
            key = self.expr(e.key)
            self.check_indexable(obj, e.obj, e.line)
            o = nonnil(obj)
            if type(o) is Arr:
                return o.elem
            if type(o) is Map:
                return o.val
            if type(key) is Lit and isinstance(key.value, str):
                t = self.member_type(o, key.value, e.line)
                return ANY if t is None else t
            if type(o) is Rec and not o.open and o.fields and type(key) is not Lit:
                return union(*(optional(ft) if opt else ft for ft, opt in o.fields.values()))
            return ANY
        if k is A.BinOp:
            return self.binop(e)
        if k is A.UnOp:
            t = self.expr(e.operand)
            if e.op == "not":
                return BOOLEAN
            if e.op == "#":
                if is_nilable(t) and t not in (ANY,):
                    self.report("E0003", e.line, f"attempt to get length of a possibly nil value ({show(t)})")
                elif lua_type_name(nonnil(t)) in ("number", "boolean", "function"):
                    self.report("E0006", e.line, f"attempt to get length of a {show(t)} value")
                return INTEGER
            if e.op == "-":
                self.check_number(t, e.line, "arithmetic")
                if type(t) is Lit and isinstance(t.value, (int, float)) and not isinstance(t.value, bool):
                    return Lit(-t.value)
                return INTEGER if assignable(t, INTEGER) and t is not ANY else NUMBER
            return INTEGER
        return ANY

    def name(self, e: A.Name) -> T:
        v = self.lookup(e.name)
        if v is not None:
            v.used = True
            return self.cur(v)
        g = self.globals.get(e.name)
        if g is not None:
            return g
        u = self.user_globals.get(e.name)
        if u is not None:
            return u
        self.report("E0002", e.line, f"undefined variable '{e.name}'")
        self.user_globals[e.name] = ANY
        return ANY

    def check_indexable(self, t: T, node, line: int) -> None:
        if t is ANY or t is UNKNOWN:
            return
        if is_nilable(t):
            what = _describe(node)
            self.report("E0003", line, f"attempt to index a possibly nil value{what} ({show(t)})")
            return
        n = lua_type_name(t)
        if n in ("number", "boolean", "function"):
            self.report("E0006", line, f"attempt to index a {show(t)} value{_describe(node)}")

    def check_number(self, t: T, line: int, what: str) -> None:
        if t is ANY or t is UNKNOWN or type(t) is TVar:
            return
        if is_nilable(t):
            self.report("E0003", line, f"{what} on a possibly nil value ({show(t)})")
            return
        for m in members(t):
            n = lua_type_name(m)
            if n in ("boolean", "table", "function", "nil", "thread") or (n == "string" and not _numeric(m)):
                self.report("E0006", line, f"attempt to perform {what} on a {show(t)} value")
                return

    def member_type(self, t: T, name: str, line: int, report: bool = True) -> T:
        if type(t) is Rec:
            f = t.fields.get(name)
            if f is not None:
                return optional(f[0]) if f[1] else f[0]
            if t.open:
                return ANY
            if report:
                self.report("E0005", line, f"field '{name}' does not exist on {show(t)}")
            return ANY
        if type(t) is Union:
            parts: list[T] = []
            for m in t.members:
                if m == NIL:
                    continue
                mt = self.member_type(m, name, line, report=False)
                if mt is None:
                    return ANY
                if type(m) is Rec and not m.open and name not in m.fields:
                    parts.append(NIL)
                    continue
                parts.append(mt)
            return union(*parts) if parts else ANY
        if type(t) is TypeVal:
            of = t.of
            if type(of) is Rec and name in of.fields:
                return TypeVal(of.fields[name][0])
            return _TYPE_METHODS.get(name, ANY)
        if type(t) is Prim and t.name == "string":
            lib = self.globals.get("string")
            return self.member_type(lib, name, line, report) if lib is not None else ANY
        if type(t) is Lit and isinstance(t.value, str):
            return self.member_type(STRING, name, line, report)
        return ANY

    def table(self, e: A.Table, expected: Optional[T]) -> T:
        exp = nonnil(expected) if expected is not None else None
        exp_rec = _single_record(exp) if exp is not None else None
        if exp is not None and type(exp) is Union:
            # a tagged union: the member whose literal tag the table has
            exp_rec = self.pick_variant(e, exp) or exp_rec
        fields: dict = {}
        pos: list[T] = []
        for it in e.items:
            if it.kind == "pos":
                ev = exp.elem if type(exp) is Arr else None
                if it is e.items[-1] and type(it.value) in (A.Call, A.MethodCall, A.Vararg):
                    pos.extend(self.multi(it.value)[:1])
                else:
                    pos.append(self.expr(it.value, ev))
            elif it.kind == "name":
                fname = cast(A.String, it.key).value   # a name item's key is its String
                fe = None
                if exp_rec is not None and fname in exp_rec.fields:
                    fe = exp_rec.fields[fname][0]
                elif type(exp) is Map:
                    fe = exp.val
                fields[fname] = (self.expr(it.value, fe), False)
            else:
                kt = self.expr(cast(A.Expr, it.key))   # an expr item has its key
                vt = self.expr(it.value, exp.val if type(exp) is Map else None)
                if type(kt) is Lit and isinstance(kt.value, str):
                    fields[kt.value] = (vt, False)
        if pos and not fields:
            return Arr(union(*(widen(p) for p in pos)))
        if not fields and not pos:
            return Rec({}, open=True)
        return Rec(fields, open=True)

    def pick_variant(self, e: A.Table, u: T) -> Optional[Rec]:
        lits = {cast(A.String, it.key).value: it.value for it in e.items
                if it.kind == "name" and type(it.value) in (A.String, A.TrueE, A.FalseE, A.Number)}
        for m in members(u):
            if type(m) is not Rec:
                continue
            ok = True
            for fname, (ft, _o) in m.fields.items():
                if type(ft) is Lit:
                    v = lits.get(fname)
                    if v is None or self.expr(v) != ft:
                        ok = False
                        break
            if ok and any(type(ft) is Lit for ft, _ in m.fields.values()):
                return m
        return None

    def binop(self, e: A.BinOp) -> T:
        op = e.op
        if op == "and":
            lt = self.expr(e.left)
            t_env, f_env = self.narrow(e.left, self.env)
            saved = self.env
            self.env = t_env
            rt = self.expr(e.right)
            self.env = saved
            return union(falsy(lt), rt) if falsy(lt) is not NEVER else rt
        if op == "or":
            lt = self.expr(e.left)
            t_env, f_env = self.narrow(e.left, self.env)
            saved = self.env
            self.env = f_env
            rt = self.expr(e.right)
            self.env = saved
            tl = truthy(lt)
            return union(tl, rt) if lt not in (ANY, UNKNOWN) else ANY
        lt = self.expr(e.left)
        rt = self.expr(e.right)
        if op in _ARITH:
            self.check_number(lt, e.left.line, "arithmetic")
            self.check_number(rt, e.right.line, "arithmetic")
            if op in ("/", "^"):
                return NUMBER
            if lt is ANY or rt is ANY:
                return ANY
            if assignable(widen(lt), INTEGER) and assignable(widen(rt), INTEGER):
                return INTEGER
            return NUMBER
        if op == "..":
            for t, side in ((lt, e.left), (rt, e.right)):
                if t is ANY or t is UNKNOWN or type(t) is TVar:
                    continue
                if is_nilable(t):
                    self.report("E0003", side.line, f"attempt to concatenate a possibly nil value ({show(t)})")
                elif any(lua_type_name(m) in ("boolean", "table", "function", "nil") for m in members(t)):
                    self.report("E0006", side.line, f"attempt to concatenate a {show(t)} value")
            return STRING
        if op in _CMP:
            for t, side in ((lt, e.left), (rt, e.right)):
                if t is not ANY and t is not UNKNOWN and is_nilable(t):
                    self.report("E0003", side.line, f"attempt to compare a possibly nil value ({show(t)})")
            if self.rules and _same(e.left, e.right):
                self.report("W0003", e.line, "comparison of a value with itself")
            return BOOLEAN
        if op in ("==", "~="):
            if self.rules and _same(e.left, e.right):
                self.report("W0003", e.line, "comparison of a value with itself")
            return BOOLEAN
        if op in _BIT:
            self.check_number(lt, e.left.line, "bitwise operation")
            self.check_number(rt, e.right.line, "bitwise operation")
            return INTEGER
        return ANY

    # ------------------------------------------------------------ calls
    def call(self, e) -> Optional[list[T]]:
        if type(e) is A.MethodCall:
            obj = self.expr(e.obj)
            self.check_indexable(obj, e.obj, e.line)
            o = nonnil(obj)
            if type(o) is TypeVal:
                return self.type_method(o, e)
            ft = self.member_type(o, e.name, e.line)
            return self.apply(ft, e, e.args, f"method '{e.name}'", self_type=o)
        f = e.func
        if type(f) is A.Name and self.lookup(f.name) is None:
            special = self.builtin_call(f.name, e)
            if special is not None:
                return special
        ft = self.expr(f)
        return self.apply(ft, e, e.args, _describe_call(f))

    def type_method(self, tv: TypeVal, e: A.MethodCall) -> Optional[list[T]]:
        for a in e.args:
            self.expr(a)
        if e.name == "is":
            return [optional(tv.of), optional(ERROR)]
        m = _TYPE_METHODS.get(e.name)
        return m.rets if m is not None else [ANY]

    def apply(self, ft: T, e, args: list, what: str, self_type: Optional[T] = None) -> Optional[list[T]]:
        if ft is ANY or ft is UNKNOWN or ft is None:
            for a in args:
                self.expr(a)
            return None
        if is_nilable(ft):
            for a in args:
                self.expr(a)
            self.report("E0003", e.line, f"attempt to call a possibly nil value ({what})")
            return None
        if type(ft) is TypeVal:
            for a in args:
                self.expr(a)
            return [ft.of]
        if type(ft) is Union:
            for a in args:
                self.expr(a)
            return None
        if type(ft) is not Fn:
            for a in args:
                self.expr(a)
            if lua_type_name(ft) in ("number", "string", "boolean", "nil") or type(ft) in (Arr, Map):
                self.report("E0007", e.line, f"attempt to call a {show(ft)} value ({what})")
            return None
        params = ft.params
        if self_type is not None and not ft.method and not ft.dual and params:
            params = params[1:]   # `obj:m(a)` passes obj as the first parameter
        elif self_type is None and ft.method:
            params = [("self", ANY, False)] + params   # `obj.m(obj, a)` of a method declared `obj:m(a)`
        # argument types, with the expected parameter type as context
        arg_types: list[T] = []
        for i, a in enumerate(args):
            exp = params[i][1] if i < len(params) else ft.variadic
            if i == len(args) - 1 and type(a) in (A.Call, A.MethodCall, A.Vararg):
                rest = self.multi(a, exp)
                arg_types.append(rest[0] if rest else NIL)
                if type(a) is A.Vararg or self.call_is_unknown(rest):
                    arg_types.extend([ANY] * max(0, len(params) - len(args)))
                else:
                    arg_types.extend(rest[1:len(params) - len(args) + 1])
            else:
                arg_types.append(self.expr(a, exp))
        tail_multi = bool(args) and type(args[-1]) in (A.Call, A.MethodCall, A.Vararg)
        # arity
        required = 0
        for i, (_pname, pt, popt) in enumerate(params):
            if not popt and not is_nilable(pt) and pt not in (ANY, UNKNOWN) and type(pt) is not TVar:
                required = i + 1
        n = len(args)
        if n < required and not tail_multi:
            self.report("E0004", e.line, f"{what} expects at least {required} argument{'s' if required != 1 else ''}, got {n}")
        elif ft.variadic is None and n > len(params) and not (tail_multi and n - 1 <= len(params)):
            self.report("E0004", e.line, f"{what} expects at most {len(params)} argument{'s' if len(params) != 1 else ''}, got {n}")
        # generics: bind type variables from the arguments
        binding: dict = {}
        if ft.generics:
            for i, (_pname, pt, _o) in enumerate(params):
                if i < len(arg_types):
                    _bind(pt, arg_types[i], binding)
        for i, at in enumerate(arg_types):
            if i < len(params):
                pt = params[i][1]
                line = args[i].line if i < len(args) else e.line
                if type(pt) is TVar:
                    c = pt.constraint
                    if c is not None and not assignable(at, c):
                        self.report("E0001", line, _mismatch(at, c, f"argument {i + 1} of {what}"))
                    continue
                pt = _subst(pt, binding)
                if not assignable(at, pt):
                    self.report("E0001", line, _mismatch(at, pt, f"argument {i + 1} of {what}"))
            elif ft.variadic is not None and i < len(args):
                if not assignable(at, ft.variadic):
                    self.report("E0001", args[i].line, _mismatch(at, ft.variadic, f"argument {i + 1} of {what}"))
        if ft.rets is None:
            return None
        rets = [_subst(r, binding) for r in ft.rets]
        if any(r == NEVER for r in rets[:1]):
            return [NEVER]
        if ft.ret_variadic is not None:   # `-> (T, ...U)`: as many more U as are asked for
            rets.extend([_subst(ft.ret_variadic, binding)] * 8)
        return rets

    @staticmethod
    def call_is_unknown(rest) -> bool:
        return len(rest) == 8 and all(r is ANY for r in rest)

    def builtin_call(self, name: str, e: A.Call) -> Optional[list[T]]:
        args = e.args
        if name == "require":
            if args and type(args[0]) is A.String:
                t = self.resolve_require(args[0].value, e.line)
                return [t if t is not None else ANY]
            for a in args:
                self.expr(a)
            return [ANY]
        if name == "type" and "type" in self.globals:
            for a in args:
                self.expr(a)
            if len(args) != 1:
                self.report("E0004", e.line, f"type expects 1 argument, got {len(args)}")
            return [STRING]
        if name == "error" and "error" in self.globals:
            for a in args:
                self.expr(a)
            return [NEVER]
        if name == "assert" and "assert" in self.globals:
            ts = [self.expr(a) for a in args]
            if args and type(args[0]) is A.Name:
                v = self.lookup(args[0].name)
                if v is not None:
                    self.set_cur(v, truthy(self.cur(v)))
            return [truthy(ts[0]) if ts else ANY] + ts[1:]
        if name == "setmetatable" and "setmetatable" in self.globals:
            ts = [self.expr(a) for a in args]
            return [ts[0] if ts else ANY]
        if name == "typeof":
            ts = [self.expr(a) for a in args]
            return [TypeVal(ts[0] if ts else ANY)]
        if name in ("integer", "number", "boolean") and name in self.globals:
            for a in args:
                self.expr(a)
            return [PRIMS[name]]
        return None

    # ------------------------------------------------------------ narrowing
    def narrow(self, cond, env: Optional[Env]) -> tuple[Optional[Env], Optional[Env]]:
        """(env where cond is true, env where it is false)."""
        if env is None:
            return None, None
        k = type(cond)
        if k is A.Paren:
            return self.narrow(cond.expr, env)
        if k is A.UnOp and cond.op == "not":
            t, f = self.narrow(cond.operand, env)
            return f, t
        if k is A.BinOp and cond.op == "and":
            t1, f1 = self.narrow(cond.left, env)
            t2, f2 = self.narrow(cond.right, t1)
            return t2, self.merge([f1, f2])
        if k is A.BinOp and cond.op == "or":
            t1, f1 = self.narrow(cond.left, env)
            t2, f2 = self.narrow(cond.right, f1)
            return self.merge([t1, t2]), f2
        if k is A.BinOp and cond.op in ("==", "~="):
            r = self.narrow_eq(cond.left, cond.right, env) or self.narrow_eq(cond.right, cond.left, env)
            if r is not None:
                return r if cond.op == "==" else (r[1], r[0])
            return env.copy(), env.copy()
        if k is A.MethodCall and cond.name == "is" and len(cond.args) == 1:
            saved = self.env
            self.env = env
            tv = nonnil(self.expr(cond.obj))
            self.env = saved
            if type(tv) is TypeVal:
                t_env = env.copy()
                self.refine(cond.args[0], tv.of, t_env)
                return t_env, env.copy()
        if k is A.Name or k is A.Member:
            saved = self.env
            self.env = env
            cur = self.expr(cond)
            self.env = saved
            t_env, f_env = env.copy(), env.copy()
            self.refine(cond, truthy(cur) if cur not in (ANY, UNKNOWN) else cur, t_env)
            fal = falsy(cur)
            self.refine(cond, fal if fal is not NEVER else cur, f_env)
            if k is A.Name:
                v = self.lookup(cond.name)
                if v is not None and v.companions:
                    for c in v.companions:
                        if c is not None:
                            f_env.types[id(c)] = nonnil(f_env.types.get(id(c), c.declared or ANY))
                if v is not None and v.err is not None:
                    e = v.err
                    f_env.types[id(e)] = nonnil(f_env.types.get(id(e), e.declared or ANY))
            return t_env, f_env
        return env.copy(), env.copy()

    def narrow_eq(self, subject, other, env: Optional[Env]):
        """`subject == other` for nil checks, `type(x) == "t"`, tags and literals."""
        if env is None:   # unreachable: nothing to narrow
            return None, None
        saved = self.env
        self.env = env
        try:
            if type(other) is A.Nil and type(subject) in (A.Name, A.Member):
                cur = self.expr(subject)
                t_env, f_env = env.copy(), env.copy()
                self.refine(subject, NIL, t_env)
                self.refine(subject, nonnil(cur), f_env)
                if type(subject) is A.Name:
                    v = self.lookup(subject.name)
                    if v is not None and v.companions:
                        for c in v.companions:
                            if c is not None:
                                t_env.types[id(c)] = nonnil(t_env.types.get(id(c), c.declared or ANY))
                return t_env, f_env
            if (type(subject) is A.Call and type(subject.func) is A.Name and subject.func.name == "type"
                    and len(subject.args) == 1 and type(other) is A.String and type(subject.args[0]) in (A.Name, A.Member)):
                target = subject.args[0]
                cur = self.expr(target)
                want = other.value
                t_env, f_env = env.copy(), env.copy()
                if cur in (ANY, UNKNOWN):
                    self.refine(target, _TYPE_NAMES.get(want, ANY), t_env)
                else:
                    yes = [m for m in members(cur) if lua_type_name(m) == want or (lua_type_name(m) is None and m not in (NEVER,))]
                    no = [m for m in members(cur) if lua_type_name(m) != want]
                    if want == "number":
                        yes = [INTEGER if m == ERROR else m for m in yes]
                    self.refine(target, union(*yes) if yes else NEVER, t_env)
                    self.refine(target, union(*no) if no else NEVER, f_env)
                return t_env, f_env
            if type(other) in (A.String, A.Number, A.TrueE, A.FalseE):
                lit = self.expr(other)
                if type(subject) is A.Member:
                    obj_t = nonnil(self.expr(subject.obj)) if type(subject.obj) in (A.Name, A.Member) else None
                    if obj_t is not None and type(obj_t) is Union and all(type(m) is Rec for m in obj_t.members):
                        yes, no = [], []
                        for m in obj_t.members:
                            f = m.fields.get(subject.name)
                            ft = f[0] if f else NIL
                            if type(ft) is Lit:
                                (yes if ft.value == cast(Lit, lit).value else no).append(m)   # a literal's type
                            else:
                                yes.append(m)
                                no.append(m)
                        t_env, f_env = env.copy(), env.copy()
                        self.refine(subject.obj, union(*yes) if yes else NEVER, t_env)
                        self.refine(subject.obj, union(*no) if no else NEVER, f_env)
                        return t_env, f_env
                if type(subject) in (A.Name, A.Member):
                    cur = self.expr(subject)
                    t_env, f_env = env.copy(), env.copy()
                    if cur not in (ANY, UNKNOWN) and assignable(lit, cur):
                        self.refine(subject, lit, t_env)
                        if type(cur) is Union:
                            self.refine(subject, union(*(m for m in cur.members if m != lit)), f_env)
                    return t_env, f_env
            return None
        finally:
            self.env = saved

    def refine(self, node, t: T, env: Env) -> None:
        if type(node) is A.Name:
            v = self.lookup(node.name)
            if v is not None:
                env.types[id(v)] = t
        elif type(node) is A.Member:
            p = _path(node)
            if p:
                env.paths[p] = t


_TYPE_METHODS = {
    "kind": Fn([], [STRING]), "name": Fn([], [optional(STRING)]),
    "fields": Fn([], [ANY]), "elem": Fn([], [ANY]), "key": Fn([], [ANY]), "val": Fn([], [ANY]),
    "inner": Fn([], [ANY]), "variants": Fn([], [ANY]), "params": Fn([], [ANY]), "ret": Fn([], [ANY]),
}


def _numeric(t: T) -> bool:
    """A string literal Lua's arithmetic coerces (`"10" + 1`)."""
    if type(t) is not Lit or not isinstance(t.value, str):
        return False
    try:
        float(t.value.strip())
        return True
    except ValueError:
        return False


def _breaks(b: A.Block) -> bool:
    """Whether a loop body breaks out of its own loop (nested loops and functions aside)."""
    for st in b.stmts:
        k = type(st)
        if k is A.Break:
            return True
        if k in (A.If, A.Do) and any(_breaks(c) for c in _child_blocks(st)):
            return True
    return False


def _child_blocks(s) -> list:
    k = type(s)
    if k in (A.Do, A.While, A.Repeat, A.NumericFor, A.GenericFor):
        return [s.body]
    if k is A.If:
        return [c.body for c in s.clauses] + ([s.orelse] if s.orelse else [])
    return []


def _ends_in_exhaustive_if(b: A.Block) -> bool:
    """A body ending in an if/elseif chain without else whose every branch returns (an
    exhaustive match over a tagged union, as lua/types.md writes it) is not reported."""
    if not b.stmts or type(b.stmts[-1]) is not A.If:
        return False
    last = b.stmts[-1]
    return last.orelse is None and len(last.clauses) > 1 and all(
        c.body.stmts and type(c.body.stmts[-1]) is A.Return for c in last.clauses)


def _single_record(t: Optional[T]) -> Optional[Rec]:
    if t is None:
        return None
    t = nonnil(t)
    return t if type(t) is Rec else None


def _path(e) -> Optional[str]:
    if type(e) is A.Name:
        return e.name
    if type(e) is A.Member:
        p = _path(e.obj)
        return p + "." + e.name if p else None
    return None


def _describe(node) -> str:
    p = _path(node)
    return f" '{p}'" if p else ""


def _describe_call(f) -> str:
    p = _path(f)
    return f"'{p}'" if p else "function"


def _same(a, b) -> bool:
    pa, pb = _path(a), _path(b)
    return pa is not None and pa == pb


def _mismatch(got: T, want: T, where: str) -> str:
    msg = f"{show(got)} not assignable to {show(want)}"
    g, w = nonnil(got), nonnil(want)
    if type(g) is Rec and type(w) is Rec:
        why = missing_field(g, w)
        if why:
            msg += f": {why}"
    return msg + f" ({where})"


def _bind(pt: T, at: T, binding: dict) -> None:
    if type(pt) is TVar:
        if pt.name not in binding:
            binding[pt.name] = widen(at)
    elif type(pt) is Arr and type(at) is Arr:
        _bind(pt.elem, at.elem, binding)
    elif type(pt) is Map and type(at) is Map:
        _bind(pt.key, at.key, binding)
        _bind(pt.val, at.val, binding)
    elif type(pt) is Union:
        for m in pt.members:
            if m != NIL:
                _bind(m, nonnil(at), binding)
    elif type(pt) is Fn and type(at) is Fn and at.rets and pt.rets:
        for r, a in zip(pt.rets, at.rets):
            _bind(r, a, binding)


def _subst(t: T, binding: dict) -> T:
    if not binding:
        return t
    if type(t) is TVar:
        return binding.get(t.name, t)
    if type(t) is Arr:
        return Arr(_subst(t.elem, binding))
    if type(t) is Map:
        return Map(_subst(t.key, binding), _subst(t.val, binding))
    if type(t) is Union:
        return union(*(_subst(m, binding) for m in t.members))
    if type(t) is Rec:
        return Rec({n: (_subst(ft, binding), o) for n, (ft, o) in t.fields.items()}, t.name, t.open)
    return t


def _assign_msg(val: T, declared: T) -> str:
    msg = f"{show(val)} not assignable to {show(declared)}"
    v, d = nonnil(val), nonnil(declared)
    if type(v) is Rec and type(d) is Rec:
        why = missing_field(v, d)
        if why:
            msg += f": {why}"
    return msg
