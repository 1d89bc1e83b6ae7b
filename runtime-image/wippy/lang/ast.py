"""The syntax tree of Wippy Lua: Lua 5.4 statements and expressions, plus type expressions.

Every node carries the source line it starts on; the emitter places its output there and the
checker reports there. Type nodes (T*) are erased by the emitter except where a type is a
value at run time (`type` declarations, casts through a type call, `typeof`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Union


# ---------------------------------------------------------------- types
@dataclass(slots=True)
class TName:
    """A named type: a primitive, a declared type, a generic parameter or `mod.Type`."""
    name: str
    line: int
    args: list["Type"] = field(default_factory=list)


@dataclass(slots=True)
class TLiteral:
    """A literal type: a string, number, boolean or nil value."""
    value: object
    line: int


@dataclass(slots=True)
class TOptional:
    inner: "Type"
    line: int


@dataclass(slots=True)
class TUnion:
    members: list["Type"]
    line: int


@dataclass(slots=True)
class TIntersection:
    members: list["Type"]
    line: int


@dataclass(slots=True)
class TArray:
    elem: "Type"
    line: int


@dataclass(slots=True)
class TMap:
    key: "Type"
    val: "Type"
    line: int


@dataclass(slots=True)
class TField:
    name: str
    type: "Type"
    optional: bool
    line: int


@dataclass(slots=True)
class TRecord:
    fields: list[TField]
    line: int


@dataclass(slots=True)
class TParam:
    name: Optional[str]
    type: "Type"
    optional: bool = False


@dataclass(slots=True)
class TFunction:
    params: list[TParam]
    returns: list["Type"]
    line: int
    variadic: Optional["Type"] = None       # `...: T` / `...T` parameter
    ret_variadic: Optional["Type"] = None   # `-> (T, ...U)`
    generics: list["Generic"] = field(default_factory=list)


@dataclass(slots=True)
class Validator:
    name: str
    args: list[object]
    line: int


@dataclass(slots=True)
class TValidated:
    base: "Type"
    validators: list[Validator]
    line: int


@dataclass(slots=True)
class TTypeof:
    """`typeof(expr)` in a type position."""
    expr: "Expr"
    line: int


Type = Union[TName, TLiteral, TOptional, TUnion, TIntersection, TArray, TMap, TRecord,
             TFunction, TValidated, TTypeof]


@dataclass(slots=True)
class Generic:
    name: str
    constraint: Optional[Type]
    line: int
    default: Optional[Type] = None


# ---------------------------------------------------------------- expressions
@dataclass(slots=True)
class Nil:
    line: int


@dataclass(slots=True)
class TrueE:
    line: int


@dataclass(slots=True)
class FalseE:
    line: int


@dataclass(slots=True)
class Vararg:
    line: int


@dataclass(slots=True)
class Number:
    text: str
    line: int

    @property
    def value(self) -> Union[int, float]:
        t = self.text.lower()
        try:
            if t.startswith("0x"):
                if "." in t or "p" in t:
                    return float.fromhex(t)
                return int(t, 16)
            if "." in t or "e" in t or "n" in t:
                return float(t)
            return int(t)
        except ValueError:
            return 0


@dataclass(slots=True)
class String:
    text: str   # source spelling, quotes included
    line: int
    value: str = ""


@dataclass(slots=True)
class Param:
    name: str
    type: Optional[Type]
    line: int
    optional: bool = False


@dataclass(slots=True)
class FuncBody:
    params: list[Param]
    is_vararg: bool
    vararg_type: Optional[Type]
    returns: Optional[list[Type]]
    ret_variadic: Optional[Type]
    generics: list[Generic]
    body: "Block"
    line: int
    end_line: int
    is_method: bool = False


@dataclass(slots=True)
class Function:
    func: FuncBody
    line: int


@dataclass(slots=True)
class TableItem:
    kind: str              # "pos", "name" (a = v) or "expr" ([k] = v)
    key: Optional["Expr"]  # String for "name", any Expr for "expr"
    value: "Expr"
    line: int


@dataclass(slots=True)
class Table:
    items: list[TableItem]
    line: int
    end_line: int


@dataclass(slots=True)
class BinOp:
    op: str
    left: "Expr"
    right: "Expr"
    line: int


@dataclass(slots=True)
class UnOp:
    op: str
    operand: "Expr"
    line: int


@dataclass(slots=True)
class Name:
    name: str
    line: int


@dataclass(slots=True)
class Index:
    obj: "Expr"
    key: "Expr"
    line: int


@dataclass(slots=True)
class Member:
    obj: "Expr"
    name: str
    line: int


@dataclass(slots=True)
class Call:
    func: "Expr"
    args: list["Expr"]
    line: int
    end_line: int = 0


@dataclass(slots=True)
class MethodCall:
    obj: "Expr"
    name: str
    args: list["Expr"]
    line: int
    end_line: int = 0


@dataclass(slots=True)
class Paren:
    expr: "Expr"
    line: int
    end_line: int = 0


@dataclass(slots=True)
class NonNil:
    """`e!`: the checker treats e as non-nil; nothing is emitted."""
    expr: "Expr"
    line: int


@dataclass(slots=True)
class Cast:
    """`e :: T` / `e as T`: an unchecked cast; nothing is emitted."""
    expr: "Expr"
    type: Type
    line: int


Expr = Union[Nil, TrueE, FalseE, Vararg, Number, String, Function, Table, BinOp, UnOp, Name,
             Index, Member, Call, MethodCall, Paren, NonNil, Cast]


# ---------------------------------------------------------------- statements
@dataclass(slots=True)
class Block:
    stmts: list["Stmt"]
    line: int
    end_line: int


@dataclass(slots=True)
class LocalName:
    name: str
    type: Optional[Type]
    attrib: Optional[str]
    line: int


@dataclass(slots=True)
class Local:
    names: list[LocalName]
    exprs: list[Expr]
    line: int


@dataclass(slots=True)
class LocalFunction:
    name: str
    func: FuncBody
    line: int


@dataclass(slots=True)
class FunctionDecl:
    """`function a.b.c:m() end`: target is the Name/Member chain, method the name after ':'."""
    target: Expr
    method: Optional[str]
    func: FuncBody
    line: int


@dataclass(slots=True)
class Assign:
    targets: list[Expr]
    exprs: list[Expr]
    line: int


@dataclass(slots=True)
class CallStat:
    call: Expr
    line: int


@dataclass(slots=True)
class ExprStat:
    """A bare field access as a statement (`u.foo`): the dialect evaluates it for its check."""
    expr: Expr
    line: int


@dataclass(slots=True)
class Do:
    body: Block
    line: int


@dataclass(slots=True)
class While:
    cond: Expr
    body: Block
    line: int


@dataclass(slots=True)
class Repeat:
    body: Block
    cond: Expr
    line: int


@dataclass(slots=True)
class IfClause:
    cond: Expr
    body: Block
    line: int


@dataclass(slots=True)
class If:
    clauses: list[IfClause]
    orelse: Optional[Block]
    line: int
    else_line: int = 0


@dataclass(slots=True)
class NumericFor:
    var: LocalName
    start: Expr
    stop: Expr
    step: Optional[Expr]
    body: Block
    line: int


@dataclass(slots=True)
class GenericFor:
    names: list[LocalName]
    exprs: list[Expr]
    body: Block
    line: int


@dataclass(slots=True)
class Return:
    exprs: list[Expr]
    line: int


@dataclass(slots=True)
class Break:
    line: int


@dataclass(slots=True)
class Goto:
    label: str
    line: int


@dataclass(slots=True)
class Label:
    name: str
    line: int


@dataclass(slots=True)
class TypeDecl:
    name: str
    generics: list[Generic]
    type: Type
    exported: bool
    line: int
    end_line: int


Stmt = Union[Local, LocalFunction, FunctionDecl, Assign, CallStat, ExprStat, Do, While, Repeat, If,
             NumericFor, GenericFor, Return, Break, Goto, Label, TypeDecl]


@dataclass(slots=True)
class Chunk:
    body: Block
    name: str
