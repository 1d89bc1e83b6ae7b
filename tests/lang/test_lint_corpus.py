"""A corpus of typed programs, each with the diagnostics `wippy lint` must give (code@line) or
none. The assignability matrix below is written out by hand (it is the expectation, not a
computation), the other groups are single programs per construct of lua/types.md."""
from __future__ import annotations

import pytest

from wippy.lang.lint import lint_source

# ------------------------------------------------------------------ 1. assignability matrix
# declared type -> values (Lua expressions) it accepts; every other value of VALUES is refused.
VALUES = ["1", "1.5", '"a"', '"x"', "true", "nil", "{1, 2}", "{a = 1}", "{}"]
ACCEPTS = {
    "number": {"1", "1.5"},
    "integer": {"1"},
    "string": {'"a"', '"x"'},
    "boolean": {"true"},
    "number?": {"1", "1.5", "nil"},
    "string?": {'"a"', '"x"', "nil"},
    "boolean?": {"true", "nil"},
    "any": set(VALUES),
    "unknown": set(VALUES),
    '"a" | "b"': {'"a"'},
    '"a" | "b" | nil': {'"a"', "nil"},
    "number | string": {"1", "1.5", '"a"', '"x"'},
    "{number}": {"{1, 2}", "{}"},
    "{[string]: number}": {"{a = 1}", "{}"},
    "{a: number}": {"{a = 1}"},
    "{a?: number}": {"{a = 1}", "{}", "{1, 2}"},  # structural: an array has no field a
    "{a: string}": set(),
    "table": {"{1, 2}", "{a = 1}", "{}"},
    "1 | 2": {"1"},
    "true": {"true"},
}
MATRIX = [(f"matrix {decl} = {val}", f"local v: {decl} = {val}\nreturn v", [] if val in ok else ["E0001@1"])
          for decl, ok in ACCEPTS.items() for val in VALUES]

# ------------------------------------------------------------------ 2. nil safety and narrowing
NIL = [
    ("optional arithmetic", "local function f(x: number?)\n  return x + 1\nend", ["E0003@2"]),
    ("optional concat", "local function f(s: string?)\n  return s .. \"!\"\nend", ["E0003@2"]),
    ("optional index", "local function f(t: {a: number}?)\n  return t.a\nend", ["E0003@2"]),
    ("optional method", "local function f(s: string?)\n  return s:upper()\nend", ["E0003@2"]),
    ("optional length", "local function f(s: string?)\n  return #s\nend", ["E0003@2"]),
    ("optional compare", "local function f(x: number?)\n  return x < 3\nend", ["E0003@2"]),
    ("optional call", "local function f(g: (() -> ())?)\n  g()\nend", ["E0003@2"]),
    ("if x narrows", "local function f(x: number?): number\n  if x then\n    return x + 1\n  end\n  return 0\nend", []),
    ("if x ~= nil narrows", "local function f(x: number?): number\n  if x ~= nil then\n    return x\n  end\n  return 0\nend", []),
    ("nil ~= x narrows", "local function f(x: number?): number\n  if nil ~= x then\n    return x\n  end\n  return 0\nend", []),
    ("else branch is nil", "local function f(x: number?)\n  if x then\n    return 1\n  else\n    return x + 1\n  end\nend", ["E0003@5"]),
    ("early return narrows", "local function f(x: string?): string\n  if x == nil then\n    return \"\"\n  end\n  return x:upper()\nend", []),
    ("early return not x", "local function f(x: string?): string\n  if not x then return \"\" end\n  return x .. \"!\"\nend", []),
    ("early error narrows", "local function f(x: string?): string\n  if not x then error(\"no x\") end\n  return x\nend", []),
    ("no narrowing without return", "local function f(x: string?)\n  if not x then print(\"no\") end\n  return x:upper()\nend", ["E0003@3"]),
    ("or default", "local function f(x: number?): number\n  local y = x or 0\n  return y + 1\nend", []),
    ("or default reassign", "local function f(x: number?): number\n  x = x or 5\n  return x * 2\nend", []),
    ("and guard", "local function f(s: string?): boolean\n  return s ~= nil and #s > 0\nend", []),
    ("and guard name", "local function f(s: string?)\n  return s and s:upper()\nend", []),
    ("or guard negative", "local function f(s: string?)\n  return s == nil or #s == 0\nend", []),
    ("assert narrows", "local function f(x: number?): number\n  assert(x, \"need x\")\n  return x + 1\nend", []),
    ("non-nil assertion", "local function f(x: number?): number\n  return x! + 1\nend", []),
    ("non-nil assertion member", "local function f(t: {a: number}?)\n  return (t!).a\nend", []),
    ("type() number", "local function f(v: number | string): number\n  if type(v) == \"number\" then\n    return v + 1\n  end\n  return #v\nend", []),
    ("type() string else", "local function f(v: number | string): string\n  if type(v) == \"string\" then\n    return v:upper()\n  else\n    return tostring(v + 1)\n  end\nend", []),
    ("type() reversed", "local function f(v: number | string): number\n  if \"number\" == type(v) then\n    return v\n  end\n  return 0\nend", []),
    ("type() wrong branch", "local function f(v: number | boolean): number\n  if type(v) == \"boolean\" then\n    return v + 1\n  end\n  return v\nend", ["E0006@3"]),
    ("unknown narrowed by type()", "local function f(u: unknown): number\n  if type(u) == \"number\" then\n    local n: number = u\n    return n\n  end\n  return 0\nend", []),
    ("unknown not narrowed", "local function f(u: unknown)\n  local n: number = u\n  return n\nend", ["E0001@2"]),
    ("unknown member access allowed", "local function f(u: unknown)\n  return u.foo\nend", []),
    ("error idiom narrows value", "local function get(): (string?, string?)\n  return \"a\", nil\nend\nlocal v, err = get()\nif err then return end\nprint(v:upper())", []),
    ("error idiom missing check", "local function get(): (string?, string?)\n  return \"a\", nil\nend\nlocal v, err = get()\nprint(v:upper(), err)", ["E0003@5"]),
    ("error idiom not value", "local function get(): (string?, string?)\n  return \"a\", nil\nend\nlocal v, err = get()\nif not v then return nil, err end\nprint(v:upper())", []),
    ("optional field needs check", "type C = {host: string, port?: number}\nlocal function f(c: C): number\n  return c.port + 1\nend", ["E0003@3"]),
    ("optional field checked", "type C = {host: string, port?: number}\nlocal function f(c: C): number\n  if c.port then\n    return c.port + 1\n  end\n  return 80\nend", []),
    ("optional field or default", "type C = {host: string, port?: number}\nlocal function f(c: C): number\n  return (c.port or 80) + 1\nend", []),
    ("nested path narrowing", "type A = {b: {c: number}?}\nlocal function f(a: A): number\n  if a.b then\n    return a.b.c\n  end\n  return 0\nend", []),
    ("nested path unchecked", "type A = {b: {c: number}?}\nlocal function f(a: A): number\n  return a.b.c\nend", ["E0003@3"]),
    ("narrowing lost after assignment", "local function f(x: number?, y: number?)\n  if x then\n    x = y\n    return x + 1\n  end\nend", ["E0003@4"]),
    ("while narrows", "local function f(x: number?)\n  while x do\n    print(x + 1)\n    x = nil\n  end\nend", []),
    ("declared optional with value", "local z: number? = 42\nprint(z + 1)", []),
    ("declared optional nil", "local y: number? = nil\nprint(y + 1)", ["E0003@2"]),
    ("nil literal to number", "local x: number = nil", ["E0001@1"]),
    ("optional to non-optional", "local function f(a: string?)\n  local b: string = a\n  return b\nend", ["E0001@2"]),
    ("optional to non-optional narrowed", "local function f(a: string?)\n  if a then\n    local b: string = a\n    return b\n  end\nend", []),
    ("error idiom boolean result", "local function f(): (boolean, string?)\n  return true, nil\nend\nlocal ok, err = f()\nif not ok then\n  error(\"failed: \" .. err)\nend", []),
    ("error idiom err unchecked", "local function f(): (boolean, string?)\n  return true, nil\nend\nlocal ok, err = f()\nprint(\"failed: \" .. err)", ["E0003@5"]),
    ("untyped nil local set by a closure", "local pid = nil\nlocal function join(p: string) pid = p end\njoin(\"a\")\nprint(pid .. \"!\")", []),
    ("ipairs on optional", "local function f(xs: {number}?)\n  for _, x in ipairs(xs) do print(x) end\nend", ["E0003@2"]),
    ("ipairs narrowed", "local function f(xs: {number}?)\n  if not xs then return end\n  for _, x in ipairs(xs) do print(x + 1) end\nend", []),
    ("ipairs elem typed", "local function f(xs: {string})\n  for _, x in ipairs(xs) do print(x + 1) end\nend", ["E0006@2"]),
    ("pairs map typed", "local function f(m: {[string]: number})\n  for k, v in pairs(m) do print(k .. v) end\nend", []),
    ("pairs map wrong", "local function f(m: {[string]: boolean})\n  for k, v in pairs(m) do print(v + 1) end\nend", ["E0006@2"]),
]

# ------------------------------------------------------------------ 3. functions
FUNCS = [
    ("param type ok", "local function add(a: number, b: number): number\n  return a + b\nend\nprint(add(1, 2))", []),
    ("param type wrong", "local function add(a: number, b: number): number\n  return a + b\nend\nprint(add(\"one\", 2))", ["E0001@4"]),
    ("both params wrong", "local function add(a: number, b: number): number\n  return a + b\nend\nadd(\"one\", \"two\")", ["E0001@4", "E0001@4"]),
    ("too few args", "local function add(a: number, b: number): number\n  return a + b\nend\nadd(1)", ["E0004@4"]),
    ("too many args", "local function add(a: number, b: number): number\n  return a + b\nend\nadd(1, 2, 3)", ["E0004@4"]),
    ("optional param may be omitted", "local function greet(name: string, greeting: string?): string\n  return (greeting or \"hi\") .. name\nend\nprint(greet(\"a\"))", []),
    ("optional param marker", "local function greet(name: string, loud?: boolean): string\n  return name\nend\nprint(greet(\"a\"))", []),
    ("untyped params accept anything", "local function f(a, b)\n  return a\nend\nf(1, \"x\")\nf({}, nil)", []),
    ("untyped function extra arg", "local function f(a)\n  return a\nend\nf(1, 2)", ["E0004@4"]),
    ("variadic typed ok", "local function sum(...: number): number\n  local t = 0\n  for _, v in ipairs({...}) do t = t + v end\n  return t\nend\nprint(sum(1, 2, 3))", []),
    ("variadic typed wrong", "local function sum(...: number): number\n  return 0\nend\nprint(sum(1, \"2\"))", ["E0001@4"]),
    ("variadic untyped", "local function log(...)\n  print(...)\nend\nlog(1, \"a\", true)", []),
    ("variadic returns any", "local f: (...any) -> (...any) = print\nlocal info = f()\nprint(info.workflow_id)", []),
    ("variadic returns typed", "local function f(): (number, ...string)\n  return 1, \"a\", \"b\"\nend\nlocal n, s = f()\nlocal m: number = s", ["E0001@5"]),
    ("variadic return value wrong", "local function f(): (number, ...string)\n  return 1, 2\nend", ["E0001@2"]),
    ("return type wrong", "local function f(): number\n  return \"x\"\nend", ["E0001@2"]),
    ("return type ok integer to number", "local function f(): number\n  return 1\nend", []),
    ("return optional nil", "local function f(): string?\n  return nil\nend", []),
    ("return nil to non-optional", "local function f(): string\n  return nil\nend", ["E0001@2"]),
    ("missing return value", "local function f(): (number, string)\n  return 1\nend", ["E0010@2"]),
    ("multiple returns ok", "local function div_mod(a: number, b: number): (number, number)\n  return math.floor(a / b), a % b\nend\nlocal q, r = div_mod(7, 2)\nprint(q + r)", []),
    ("error returns", "local function fetch(url: string): (string?, string?)\n  if url == \"\" then return nil, \"empty\" end\n  return url, nil\nend", []),
    ("falls off end", "local function f(x: number): number\n  if x > 0 then\n    return x\n  end\nend", ["E0010@5"]),
    ("returns on all paths", "local function f(x: number): number\n  if x > 0 then\n    return x\n  else\n    return -x\n  end\nend", []),
    ("never function", "local function fail(msg: string): never\n  error(msg)\nend\nlocal function f(x: number?): number\n  if not x then fail(\"no\") end\n  return x\nend", []),
    ("function type local ok", "local double: (number) -> number = function(x: number): number\n  return x * 2\nend\nprint(double(2))", []),
    ("function type local wrong arg", "local double: (number) -> number = function(x: number): number\n  return x * 2\nend\nprint(double(\"2\"))", ["E0001@4"]),
    ("function type parameter contravariant", "local f: (number) -> number = function(x: string): number\n  return #x\nend", ["E0001@1"]),
    ("function type wider parameter ok", "local f: (integer) -> string = function(x: number): string\n  return tostring(x)\nend", []),
    ("callback parameter wrong", "local function each(xs: {number}, fn: (number) -> ())\n  for _, x in ipairs(xs) do fn(x) end\nend\neach({1}, function(s: string) print(s:upper()) end)", ["E0001@4"]),
    ("function type as param", "local function apply(f: (number) -> number, v: number): number\n  return f(v)\nend\nprint(apply(function(x) return x end, 1))", []),
    ("return of call typed", "local function name(): string\n  return \"a\"\nend\nlocal n: number = name()", ["E0001@4"]),
    ("result of call used", "local function name(): string\n  return \"a\"\nend\nprint(name() + 1)", ["E0006@4"]),
    ("call non-function", "local n = 5\nn()", ["E0007@2"]),
    ("call string value", "local s: string = \"a\"\ns()", ["E0007@2"]),
    ("method with self", "local Counter = {n = 0}\nfunction Counter:inc(by: number): number\n  self.n = self.n + by\n  return self.n\nend\nCounter:inc(1)", []),
    ("method wrong arg", "local Counter = {n = 0}\nfunction Counter:inc(by: number): number\n  return by\nend\nCounter:inc(\"x\")", ["E0001@5"]),
    ("method called with a dot", "local Counter = {n = 0}\nfunction Counter:inc(by: number): number\n  return self.n + by\nend\nCounter.inc(Counter, 1)", []),
    ("method dot call wrong arg", "local Counter = {n = 0}\nfunction Counter:inc(by: number): number\n  return by\nend\nCounter.inc(Counter, \"x\")", ["E0001@5"]),
    ("string methods", "local s: string = \"abc\"\nprint(s:upper(), s:sub(1, 2), s:len())", []),
    ("string method arity", "local s: string = \"abc\"\nprint(s:rep())", ["E0004@2"]),
    ("builtin arity", "print(math.floor())", ["E0004@1"]),
    ("builtin type", "print(math.floor(\"x\"))", ["E0001@1"]),
    ("builtin return", "local s: string = math.floor(1.5)", ["E0001@1"]),
    ("tostring ok", "local s: string = tostring(1)", []),
    ("tonumber optional", "local n: number = tonumber(\"1\")", ["E0001@1"]),
    ("tonumber or default", "local n: number = tonumber(\"1\") or 0", []),
    ("recursive local function", "local function fact(n: integer): integer\n  if n <= 1 then return 1 end\n  return n * fact(n - 1)\nend", []),
    ("closure captures", "local function counter(): () -> integer\n  local n = 0\n  return function(): integer\n    n = n + 1\n    return n\n  end\nend\nlocal c = counter()\nprint(c() + 1)", []),
    ("global function typed", "function add(a: number, b: number): number\n  return a + b\nend\nadd(1, \"x\")", ["E0001@4"]),
    ("pcall results", "local ok, err = pcall(function() error(\"x\") end)\nprint(ok, err)", []),
    ("select count", "print(select(\"#\", 1, 2))", []),
    ("table insert", "local t: {string} = {}\ntable.insert(t, \"a\")\nprint(table.concat(t, \",\"))", []),
]

# ------------------------------------------------------------------ 4. records, unions, literals
RECORDS = [
    ("record ok", "type User = {name: string, age: number}\nlocal u: User = {name = \"alice\", age = 25}", []),
    ("record missing field", "type User = {name: string, age: number}\nlocal u: User = {name = \"alice\"}", ["E0001@2"]),
    ("record wrong field type", "type User = {name: string, age: number}\nlocal u: User = {name = \"alice\", age = \"x\"}", ["E0001@2"]),
    ("record extra field ok", "type User = {name: string}\nlocal u: User = {name = \"a\", extra = 1}", []),
    ("record unknown field read", "type User = {name: string}\nlocal function f(u: User)\n  return u.nmae\nend", ["E0005@3"]),
    ("record unknown field write", "type User = {name: string}\nlocal function f(u: User)\n  u.agee = 3\nend", ["E0005@3"]),
    ("record field write wrong type", "type User = {name: string}\nlocal function f(u: User)\n  u.name = 3\nend", ["E0001@3"]),
    ("record field write ok", "type User = {name: string}\nlocal function f(u: User)\n  u.name = \"b\"\nend", []),
    ("record field typed use", "type User = {name: string, age: number}\nlocal function f(u: User): number\n  return u.age + 1\nend", []),
    ("record field misuse", "type User = {name: string, age: number}\nlocal function f(u: User): number\n  return u.name + 1\nend", ["E0006@3"]),
    ("optional fields omitted", "type Config = {host: string, port: number, timeout?: number, debug?: boolean}\nlocal cfg: Config = {host = \"localhost\", port = 8080}", []),
    ("optional field wrong type", "type Config = {host: string, timeout?: number}\nlocal cfg: Config = {host = \"h\", timeout = \"x\"}", ["E0001@2"]),
    ("nested record", "type Addr = {city: string}\ntype P = {addr: Addr}\nlocal p: P = {addr = {city = \"x\"}}\nprint(p.addr.city:upper())", []),
    ("nested record wrong", "type Addr = {city: string}\ntype P = {addr: Addr}\nlocal p: P = {addr = {city = 1}}", ["E0001@3"]),
    ("array of records", "type P = {x: number}\nlocal ps: {P} = {{x = 1}, {x = 2}}\nprint(ps[1].x + 1)", []),
    ("array of records wrong", "type P = {x: number}\nlocal ps: {P} = {{x = 1}, {y = 2}}", ["E0001@2"]),
    ("array elem type", "local xs: {number} = {1, 2, 3}\nlocal s: string = xs[1]", ["E0001@2"]),
    ("array wrong elem", "local xs: {number} = {1, \"2\"}", ["E0001@1"]),
    ("map ok", "local m: {[string]: number} = {a = 1, b = 2}\nprint(m.a)", []),
    ("map wrong value", "local m: {[string]: number} = {a = \"x\"}", ["E0001@1"]),
    ("map value read typed", "local m: {[string]: number} = {}\nlocal s: string = m[\"a\"]", ["E0001@2"]),
    ("union assign", "local v: number | string = 1\nv = \"a\"", []),
    ("union assign wrong", "local v: number | string = 1\nv = true", ["E0001@2"]),
    ("literal type ok", "type Status = \"pending\" | \"active\" | \"done\"\nlocal s: Status = \"pending\"", []),
    ("literal type wrong", "type Status = \"pending\" | \"active\" | \"done\"\nlocal s: Status = \"invalid\"", ["E0001@2"]),
    ("literal param", "type Dir = \"up\" | \"down\"\nlocal function go(d: Dir) end\ngo(\"up\")\ngo(\"left\")", ["E0001@4"]),
    ("string to literal", "type Dir = \"up\" | \"down\"\nlocal function go(d: Dir) end\nlocal s: string = \"up\"\ngo(s)", ["E0001@4"]),
    ("literal narrowing by ==", "type Dir = \"up\" | \"down\"\nlocal function f(d: Dir): number\n  if d == \"up\" then return 1 end\n  local x: \"down\" = d\n  return 0\nend", []),
    ("number literal union", "type Code = 200 | 404\nlocal c: Code = 200\nlocal d: Code = 500", ["E0001@3"]),
    ("boolean literal", "local t: true = true\nlocal f: true = false", ["E0001@2"]),
    ("intersection ok", "type Named = {name: string}\ntype Aged = {age: number}\ntype Person = Named & Aged\nlocal p: Person = {name = \"Alice\", age = 30}", []),
    ("intersection missing", "type Named = {name: string}\ntype Aged = {age: number}\ntype Person = Named & Aged\nlocal p: Person = {name = \"Alice\"}", ["E0001@4"]),
    ("tagged union ok", "type S = {status: \"loading\"} | {status: \"error\", message: string}\nlocal s: S = {status = \"error\", message = \"x\"}", []),
    ("tagged union wrong variant", "type S = {status: \"loading\"} | {status: \"error\", message: string}\nlocal s: S = {status = \"error\"}", ["E0001@2"]),
    ("tagged union narrowing", "type S = {status: \"loading\"} | {status: \"error\", message: string}\nlocal function f(s: S): string\n  if s.status == \"error\" then\n    return s.message\n  end\n  return \"...\"\nend", []),
    ("tagged union field without narrowing", "type S = {status: \"loading\"} | {status: \"error\", message: string}\nlocal function f(s: S): string\n  return s.message:upper()\nend", ["E0003@3"]),
    ("tagged union render", "type User = {name: string}\ntype L = {status: \"loading\"} | {status: \"loaded\", data: User} | {status: \"error\", message: string}\nlocal function render(state: L): string\n  if state.status == \"loading\" then\n    return \"Loading...\"\n  elseif state.status == \"loaded\" then\n    return \"Hello, \" .. state.data.name\n  elseif state.status == \"error\" then\n    return \"Error: \" .. state.message\n  end\nend", []),
    ("recursive type", "type Node = {value: number, next: Node?}\nlocal n: Node = {value = 1, next = {value = 2}}\nprint(n.value)", []),
    ("recursive type wrong", "type Node = {value: number, next: Node?}\nlocal n: Node = {value = 1, next = {value = \"x\"}}", ["E0001@2"]),
    ("type alias array", "type StringArray = {string}\nlocal a: StringArray = {\"a\"}\nlocal b: StringArray = {1}", ["E0001@3"]),
    ("type alias map", "type StringMap = {[string]: number}\nlocal m: StringMap = {a = 1}", []),
    ("unknown type name", "local x: Strng = \"a\"", ["E0009@1"]),
    ("unknown type in record", "type R = {a: Nope}", ["E0009@1"]),
    ("validators are types", "local x: number @min(0) = 1\nlocal y: number @min(0) @max(100) = \"a\"", ["E0001@2"]),
    ("validated field", "type U = {age: number @min(0) @max(150), name: string @min_len(1)}\nlocal u: U = {age = 3, name = \"a\"}", []),
    ("validated array", "local scores: {number @min(0) @max(100)} = {85, 90}", []),
    ("validated union", "local id: number @min(1) | string @min_len(1) = 1", []),
    ("min validator literal", "local x: number @min(0) = -1", ["E0011@1"]),
    ("max validator literal", "local x: number @min(0) @max(100) = 150", ["E0011@1"]),
    ("validators satisfied", "local x: number @min(0) @max(100) = 50", []),
    ("min_len validator literal", "local s: string @min_len(1) = \"\"", ["E0011@1"]),
    ("max_len validator literal", "local s: string @max_len(2) = \"abc\"", ["E0011@1"]),
    ("pattern validator", "local email: string @pattern(\"^.+@.+$\") = \"test@example.com\"", []),
    ("any opt out", "local a: any = 1\na.foo.bar.baz()", []),
    ("table type", "local t: table = {}\nlocal u: table = 5", ["E0001@2"]),
]

# ------------------------------------------------------------------ 5. generics, casts, types as values
GENERICS = [
    ("identity", "local function identity<T>(x: T): T\n  return x\nend\nlocal n: number = identity(42)\nlocal s: string = identity(\"hello\")", []),
    ("identity wrong", "local function identity<T>(x: T): T\n  return x\nend\nlocal n: number = identity(\"no\")", ["E0001@4"]),
    ("constrained ok", "type HasName = {name: string}\nlocal function greet<T: HasName>(obj: T): string\n  return \"Hello, \" .. obj.name\nend\ngreet({name = \"Alice\"})", []),
    ("constrained missing", "type HasName = {name: string}\nlocal function greet<T: HasName>(obj: T): string\n  return \"Hello, \" .. obj.name\nend\ngreet({age = 30})", ["E0001@5"]),
    ("generic array first", "local function first<T>(xs: {T}): T?\n  return xs[1]\nend\nlocal s = first({\"a\"})\nlocal n: number = first({1}) or 0", []),
    ("generic array first nil", "local function first<T>(xs: {T}): T?\n  return xs[1]\nend\nlocal n: number = first({1})", ["E0001@4"]),
    ("generic map values", "local function get<V>(m: {[string]: V}, k: string): V?\n  return m[k]\nend\nlocal v: string = get({a = \"x\"}, \"a\") or \"\"", []),
    ("generic two params", "local function pair<A, B>(a: A, b: B): (A, B)\n  return a, b\nend\nlocal x, y = pair(1, \"a\")\nlocal s: string = y", []),
    ("generic result type", "type Result<T, E> = {ok: true, value: T} | {ok: false, error: E}\nlocal r: Result<number, string> = {ok = true, value = 1}", []),
    ("generic result type wrong", "type Result<T, E> = {ok: true, value: T} | {ok: false, error: E}\nlocal r: Result<number, string> = {ok = true, value = \"x\"}", ["E0001@2"]),
    ("generic box", "type Box<T> = {item: T}\nlocal b: Box<string> = {item = \"a\"}\nlocal c: Box<string> = {item = 1}", ["E0001@3"]),
    ("generic box read", "type Box<T> = {item: T}\nlocal function open(b: Box<number>): number\n  return b.item + 1\nend", []),
    ("unsafe cast ::", "local data: any = {}\nlocal user = data :: {name: string}\nprint(user.name:upper())", []),
    ("unsafe cast as", "type User = {name: string}\nlocal data: any = {}\nlocal user = data as User\nprint(user.nme)", ["E0005@4"]),
    ("cast to number", "local v: any = 1\nlocal n = v :: number\nlocal s: string = n", ["E0001@3"]),
    ("type call validates", "type Point = {x: number, y: number}\nlocal data: any = {}\nlocal p = Point(data)\nprint(p.x + p.y)", []),
    ("type call result typed", "type Point = {x: number, y: number}\nlocal data: any = {}\nlocal p = Point(data)\nlocal s: string = p.x", ["E0001@4"]),
    ("type is narrows result", "type Point = {x: number, y: number}\nlocal data: any = {}\nlocal p, err = Point:is(data)\nif p then\n  print(p.x + p.y)\nend", []),
    ("type is unchecked", "type Point = {x: number, y: number}\nlocal data: any = {}\nlocal p, err = Point:is(data)\nprint(p.x)", ["E0003@4"]),
    ("type is narrows argument", "type Point = {x: number, y: number}\nlocal function f(data: unknown): number\n  if Point:is(data) then\n    local p: Point = data\n    return p.x\n  end\n  return 0\nend", []),
    ("reflection", "type User = {name: string, age: number}\nfor name, typ in User:fields() do\n  print(name, typ:kind())\nend\nprint(User:kind(), User:name(), User.name:kind())", []),
    ("typeof", "local arr: {number} = {1, 2, 3}\nlocal t = typeof(arr)\nprint(t:elem():kind())", []),
    ("primitive casts", "local x: any = 1\nlocal s: string = string(x)\nlocal n: integer = integer(x)\nlocal b: boolean = boolean(x)", []),
]

# ------------------------------------------------------------------ 6. operators, globals, requires
MISC = [
    ("undefined global", "print(undefined_thing)", ["E0002@1"]),
    ("undefined global call", "local x = 1\nfoo(x)", ["E0002@2"]),
    ("global defined later", "function main()\n  return helper()\nend\nfunction helper()\n  return 1\nend", []),
    ("global assigned", "counter = 0\nprint(counter + 1)", []),
    ("builtin globals", "print(type(1), tostring(2), math.pi, string.format(\"%d\", 1), os.time(), table.concat({}))", []),
    ("process global", "print(process.pid())", []),
    ("errors global", "local e = errors.new(\"x\")\nprint(errors.is(e, errors.INVALID))", []),
    ("unknown module member", "print(math.pwo(2, 3))", ["E0005@1"]),
    ("unknown string member", "print(string.uper(\"a\"))", ["E0005@1"]),
    ("arith on string", "local s: string = \"a\"\nprint(s + 1)", ["E0006@2"]),
    ("arith on boolean", "local b = true\nprint(b * 2)", ["E0006@2"]),
    ("arith on table", "local t = {}\nprint(t - 1)", ["E0006@2"]),
    ("concat number ok", "print(\"a\" .. 1 .. 2.5)", []),
    ("concat boolean", "print(\"a\" .. true)", ["E0006@1"]),
    ("concat table", "local t: {number} = {}\nprint(\"a\" .. t)", ["E0006@2"]),
    ("length of number", "local n: number = 1\nprint(#n)", ["E0006@2"]),
    ("index a number", "local n: number = 1\nprint(n.x)", ["E0006@2"]),
    ("integer arithmetic", "local a: integer = 1\nlocal b: integer = a + 2\nlocal c: integer = a // 2", []),
    ("division is number", "local a: integer = 4\nlocal b: integer = a / 2", ["E0001@2"]),
    ("comparison result", "local b: boolean = 1 < 2\nlocal s: string = 1 == 2", ["E0001@2"]),
    ("not result", "local b: boolean = not nil", []),
    ("numeric for", "for i = 1, 10 do\n  local s: string = i\nend", ["E0001@2"]),
    ("numeric for ok", "for i = 1, 10, 2 do\n  print(i * 2)\nend", []),
    ("for bound type", "for i = 1, \"x\" do end", ["E0006@1"]),
    ("repeat until", "local n = 0\nrepeat\n  n = n + 1\nuntil n > 3", []),
    ("goto continue", "for i = 1, 3 do\n  if i == 2 then goto continue end\n  print(i)\n  ::continue::\nend", []),
    ("do block scope", "do\n  local x = 1\n  print(x)\nend", []),
    ("local attribs", "local x <const> = 5\nprint(x)", []),
    ("method chain any", "local t: any = {}\nt:a():b():c()", []),
    ("long strings", "local s: string = [[\nmulti\nline]]\nlocal n: number = s", ["E0001@4"]),
    ("shebang", "#!/usr/bin/env lua\nlocal n: number = \"x\"", ["E0001@2"]),
    ("semicolons", "local a: number = 1; local b: string = a;", ["E0001@1"]),
    ("parse error", "local function f(\n  return 1\nend", ["P0001@2"]),
    ("parse error missing end", "local function f()\n  return 1\n", ["P0001@3"]),
    ("parse error bad type", "local x: = 1", ["P0001@1"]),
    ("parse error unclosed record type", "type R = {a: number\nlocal x = 1", ["P0001@2"]),
    ("parse error assignment to call", "f() = 1", ["P0001@1"]),
    ("bad validator args", "local x: number @min(x) = 1", ["P0001@1"]),
]

CASES = MATRIX + NIL + FUNCS + RECORDS + GENERICS + MISC

REQUIRES = [
    ("declared module", "local json = require(\"json\")\nlocal s, err = json.encode({})\nif err then return end\nprint(s:upper())", ["json"], {}, []),
    ("undeclared module", "local json = require(\"json\")\nprint(json)", [], {}, ["E0008@1"]),
    ("undeclared import", "local lib = require(\"lib\")", ["json"], {}, ["E0008@1"]),
    ("dynamic require", "local name = \"json\"\nlocal m = require(name)", [], {}, []),
    ("module signature arg", "local json = require(\"json\")\nprint(json.decode(1))", ["json"], {}, ["E0001@2"]),
    ("module unknown member", "local json = require(\"json\")\nprint(json.parse(\"{}\"))", ["json"], {}, ["E0005@2"]),
    ("module result nil check", "local json = require(\"json\")\nlocal s = json.encode({})\nprint(s:upper())", ["json"], {}, ["E0003@3"]),
    ("ambient module undeclared", "local p = require(\"process\")\nprint(p.pid())", [], {}, []),
    ("ambient errors module", "local errors = require(\"errors\")\nprint(errors.new(\"x\"))", [], {}, []),
    ("module constant", "local time = require(\"time\")\ntime.sleep(100 * time.MILLISECOND)\nlocal s: string = time.RFC3339", ["time"], {}, []),
    ("module constant typed", "local time = require(\"time\")\nlocal s: string = time.SECOND", ["time"], {}, ["E0001@2"]),
    ("logger colon call", "local logger = require(\"logger\")\nlogger:info(\"started\", {id = 1})\nlogger:warn(2)", ["logger"], {}, ["E0001@3"]),
    ("nested module table", "local compress = require(\"compress\")\nlocal z = compress.gzip.encode(\"abc\", {level = 9})\nprint(#z)\ncompress.gzip.encode(1)", ["compress"], {}, ["E0001@4"]),
    ("nested module unknown", "local crypto = require(\"crypto\")\nprint(crypto.random.byts(2))", ["crypto"], {}, ["E0005@2"]),
    ("time module", "local time = require(\"time\")\nlocal now = time.now()\nprint(now)", ["time"], {}, []),
    ("logger module", "local logger = require(\"logger\")\nlogger.info(\"hi\", {a = 1})\nlogger.info(1)", ["logger"], {}, ["E0001@3"]),
]

LIB = """
export type Order = {id: integer, items: {string}}
local M = {}
function M.total(o: Order): integer
    return #o.items
end
function M.name(): string
    return "orders"
end
return M
"""
LIBS = [
    ("library function typed", "local orders = require(\"orders\")\nlocal n: integer = orders.total({id = 1, items = {\"a\"}})", []),
    ("library function wrong arg", "local orders = require(\"orders\")\norders.total({id = 1})", ["E0001@2"]),
    ("library return typed", "local orders = require(\"orders\")\nlocal n: number = orders.name()", ["E0001@2"]),
    ("library exported type annotation", "local orders = require(\"orders\")\nlocal o: orders.Order = {id = 1, items = {}}\nprint(o.id + 1)", []),
    ("library exported type wrong", "local orders = require(\"orders\")\nlocal o: orders.Order = {id = \"x\", items = {}}", ["E0001@2"]),
    ("library exported type value", "local orders = require(\"orders\")\nlocal o = orders.Order({id = 1, items = {}})\nprint(o.items[1])", []),
    ("library unknown type", "local orders = require(\"orders\")\nlocal o: orders.Ordr = {}", ["E0009@2"]),
]

RULES = [
    ("W0001 empty if", "local x = 1\nif x then\nend", ["W0001@2"]),
    ("W0001 empty do", "do end", ["W0001@1"]),
    ("W0001 non-empty", "local x = 1\nif x then print(x) end", []),
    ("W0002 global assign", "count = 1\nprint(count)", ["W0002@1"]),
    ("W0002 global function", "function helper() end\nhelper()", ["W0002@1"]),
    ("W0002 entry method exempt", "function main() end", []),
    ("W0003 self compare", "local x = 1\nprint(x == x)", ["W0003@2"]),
    ("W0003 different", "local x, y = 1, 2\nprint(x == y)", []),
    ("W0004 unused var", "local unused = 1", ["W0004@1"]),
    ("W0004 underscore ok", "local _unused = 1", []),
    ("W0005 unused param", "local function f(a, b)\n  return a\nend\nf(1, 2)", ["W0005@1"]),
    ("W0005 self ok", "local o = {}\nfunction o:m()\n  return 1\nend", []),
    ("W0006 unused import", "local json = require(\"json\")", ["W0006@1"]),
    ("W0006 used import", "local json = require(\"json\")\nprint(json.encode({}))", []),
    ("W0007 shadowing", "local x = 1\nlocal function f()\n  local x = 2\n  return x\nend\nprint(x, f())", ["W0007@3"]),
    ("W0007 no shadow", "local x = 1\nlocal function f()\n  local y = 2\n  return y\nend\nprint(x, f())", []),
]


def _codes(diags, with_rules: bool) -> list[str]:
    return sorted(f"{d.code}@{d.line}" for d in diags if with_rules or not d.code.startswith("W"))


def test_the_corpus_is_large_enough():
    assert len(CASES) + len(REQUIRES) + len(LIBS) + len(RULES) >= 300


@pytest.mark.parametrize("name,src,expected", CASES, ids=[c[0] for c in CASES])
def test_program(name, src, expected):
    assert _codes(lint_source(src), False) == sorted(expected)


@pytest.mark.parametrize("name,src,modules,imports,expected", REQUIRES, ids=[c[0] for c in REQUIRES])
def test_require(name, src, modules, imports, expected):
    assert _codes(lint_source(src, modules=modules, imports=imports), False) == sorted(expected)


@pytest.mark.parametrize("name,src,expected", LIBS, ids=[c[0] for c in LIBS])
def test_library_types_reach_importers(name, src, expected):
    diags = lint_source(src, imports={"orders": "app:orders"}, libraries={"app:orders": LIB})
    assert _codes(diags, False) == sorted(expected)


@pytest.mark.parametrize("name,src,expected", RULES, ids=[c[0] for c in RULES])
def test_rule(name, src, expected):
    diags = lint_source(src, rules=True, modules=["json"], method="main")
    assert sorted(f"{d.code}@{d.line}" for d in diags if d.code.startswith("W")) == sorted(expected)
    assert not [d for d in lint_source(src, modules=["json"], method="main") if d.code.startswith("W")]
