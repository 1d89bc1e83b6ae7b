"""Python side of the `json` module: the fast decoder for documents of some size, string
unescaping for `\\u` escapes and JSON Schema validation (a dependency-free subset of
draft 2020-12 / draft-07).

Encoding, small documents and every error message are Lua's (json.lua), or the native codec's
(wippy/native/json.c) when it is built. Without it, a larger document
is read by Python's C decoder and handed to Lua as one table in a single crossing, but only
when the result is exactly what the Lua decoder would build; otherwise Lua decodes it.
"""
from __future__ import annotations

import copy
import gc
import json
import math
import re
from collections import OrderedDict
from itertools import chain, compress
from typing import Any, Callable

import re2

from .. import native
from ..engine.convert import NO_LIMIT
from . import offload
from .rx import linear_regex

_CACHE_SIZE = 100
MAX_DEPTH = 128                  # levels of nesting, as the Lua decoder allows
_INT_MIN, _INT_MAX = -(1 << 63), (1 << 63) - 1
_CONTAINER: dict[type, bool] = {dict: True, list: True}
_FLOAT: dict[type, bool] = {float: True}
_INT: dict[type, bool] = {int: True}


class SchemaError(ValueError):
    pass


class TooManySteps(SchemaError):
    pass


# Checks (a schema applied to a value) one validation may make: anyOf, oneOf and $ref can make
# them exponential in the schema's size. Up to INLINE_STEPS a validation runs on the event loop,
# beyond them again in a worker thread (offload.py), where MAX_STEPS (the host's
# max_schema_steps, 0 = no limit) bound it.
MAX_STEPS = 500_000
INLINE_STEPS = 2_000


def unescape(raw: str) -> str:
    """Decode the body of a JSON string literal that contains \\u escapes.

    Lone or mismatched surrogates become U+FFFD, as Go's decoder does."""
    s = json.loads('"' + raw + '"')
    if any(0xD800 <= ord(c) <= 0xDFFF for c in s):
        s = s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return s


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# a number that may not read the same in Lua: an integer beyond int64 or a float that may
# overflow to infinity (both need 19+ digits or a 3-digit exponent; strings may match too)
_RISKY_NUMBER = re2.compile(r"[0-9]{19}|[0-9][eE][-+]?[0-9]{3}")


def _reads_as_lua(text: str, doc: Any) -> bool:
    """Whether `doc` (decoded from `text`) becomes in Lua what the Lua decoder would build:
    at most MAX_DEPTH levels, no integer beyond int64 (Lua reads those as floats) and no
    float that overflowed to infinity (an error in Lua). Walks level by level, iterating in C."""
    numbers = _RISKY_NUMBER.search(text) is not None
    if not numbers and text.count("[") + text.count("{") <= MAX_DEPTH:
        return True
    level = [doc]
    for _ in range(MAX_DEPTH):
        vals = list(chain(chain.from_iterable(map(dict.values, [c for c in level if type(c) is dict])),
                          chain.from_iterable([c for c in level if type(c) is list])))
        types = list(map(type, vals))
        if numbers:
            floats = list(compress(vals, map(_FLOAT.get, types)))
            if floats and any(map(math.isinf, floats)):
                return False
            ints = list(compress(vals, map(_INT.get, types)))
            if ints and (min(ints) < _INT_MIN or max(ints) > _INT_MAX):
                return False
        level = list(compress(vals, map(_CONTAINER.get, types)))
        if not level:
            return True
    return False


# ---------------------------------------------------------------------------- validator
def _type_of(v: Any) -> str:
    if v is None:
        return "null"
    if v is True or v is False:
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    return "object"


def _is_type(v: Any, t: str, lenient_empty: bool) -> bool:
    actual = _type_of(v)
    if t == actual:
        return True
    if t == "number":
        return actual == "integer"
    if t == "integer":
        return actual == "number" and math.isfinite(v) and float(v).is_integer()
    if lenient_empty and v == [] and t == "object":
        return True   # an empty Lua table is both {} and []
    return False


def _equal(a: Any, b: Any) -> bool:
    ta, tb = _type_of(a), _type_of(b)
    if {ta, tb} <= {"integer", "number"}:
        return a == b
    if ta != tb:
        return False
    if ta == "array":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if ta == "object":
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return a == b


def _path(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(key)) else f"{path}[{json.dumps(key)}]"


_OBJECT_KEYWORDS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")


def _normalize(schema: Any) -> Any:
    """Schemas built as Lua tables encode `{}` as `[]`: restore objects where expected."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k in _OBJECT_KEYWORDS and v == []:
                v = {}
            if k in ("items", "additionalProperties", "not", "if", "then", "else", "contains",
                     "propertyNames", "additionalItems", "unevaluatedProperties") and v == []:
                v = {}
            out[k] = _normalize(v)
        return out
    if isinstance(schema, list):
        return [_normalize(x) for x in schema]
    return schema


class Validator:
    def __init__(self, schema: Any):
        if not isinstance(schema, (dict, bool)):
            if schema == []:
                schema = {}
            else:
                raise SchemaError("schema must be an object or a boolean")
        self.root = _normalize(schema)
        self._regex: dict[str, Any] = {}
        self._check_schema(self.root)
        self._steps = 0

    # compile-time checks: bad patterns and unknown types fail at compile, as in Go
    def _check_schema(self, s: Any) -> None:
        if isinstance(s, dict):
            t = s.get("type")
            names = t if isinstance(t, list) else [t] if t is not None else []
            for name in names:
                if name not in ("null", "boolean", "integer", "number", "string", "array", "object"):
                    raise SchemaError(f"invalid type {name!r} in schema")
            if "pattern" in s:
                self._re(s["pattern"])
            for v in s.values():
                self._check_schema(v)
        elif isinstance(s, list):
            for v in s:
                self._check_schema(v)

    def _re(self, pattern: Any):
        if not isinstance(pattern, str):
            raise SchemaError("pattern must be a string")
        r = self._regex.get(pattern)
        if r is None:
            try:
                r = linear_regex(pattern)
            except ValueError as e:
                raise SchemaError(f"invalid pattern {pattern!r}: {e}") from None
            self._regex[pattern] = r
        return r

    def _resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaError(f"unsupported $ref {ref!r} (only local references)")
        node = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and part.isdigit():
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                raise SchemaError(f"cannot resolve $ref {ref!r}")
        return node

    def validate(self, data: Any, lenient_empty: bool = False, max_steps: int = MAX_STEPS) -> str | None:
        """Return None when valid, else the first error as `path: message`. Past max_steps
        checks (a schema's anyOf/$ref can make them exponential) raises TooManySteps."""
        errors: list[str] = []
        self._lenient = lenient_empty
        self._steps = max_steps
        self._v(self.root, data, "$", errors, 0)
        if not errors:
            return None
        if len(errors) == 1:
            return errors[0]
        return f"{errors[0]} (+{len(errors) - 1} more)"

    def _v(self, s: Any, v: Any, path: str, errs: list[str], depth: int) -> None:
        if depth > 256:
            raise SchemaError("schema recursion too deep")
        self._steps -= 1
        if self._steps < 0:
            raise TooManySteps("validation took too many steps")
        if s is True or s == {}:
            return
        if s is False:
            errs.append(f"{path}: no value is allowed here")
            return
        if not isinstance(s, dict):
            return
        lenient = self._lenient
        if "$ref" in s:
            self._v(self._resolve(s["$ref"]), v, path, errs, depth + 1)
        t = s.get("type")
        if t is not None:
            names = t if isinstance(t, list) else [t]
            if not any(_is_type(v, name, lenient) for name in names):
                errs.append(f"{path}: expected {' or '.join(names)}, got {_type_of(v)}")
                return
        if "const" in s and not _equal(v, s["const"]):
            errs.append(f"{path}: value must be {json.dumps(s['const'])}")
        if "enum" in s:
            enum = s["enum"] if isinstance(s["enum"], list) else [s["enum"]]
            if not any(_equal(v, e) for e in enum):
                errs.append(f"{path}: value must be one of {json.dumps(enum)}")
        kind = _type_of(v)
        if kind in ("integer", "number"):
            self._number(s, v, path, errs)
        elif kind == "string":
            self._string(s, v, path, errs)
        if kind == "array" and not (lenient and v == [] and s.get("type") == "object"):
            self._array(s, v, path, errs, depth)
        if kind == "object" or (lenient and v == [] and (s.get("type") == "object" or "required" in s or "properties" in s)):
            self._object(s, v if isinstance(v, dict) else {}, path, errs, depth)
        for sub in s.get("allOf", ()) or ():
            self._v(sub, v, path, errs, depth + 1)
        if "anyOf" in s:
            if not any(self._ok(sub, v, path, depth) for sub in s["anyOf"]):
                errs.append(f"{path}: value does not match any of the allowed schemas")
        if "oneOf" in s:
            n = sum(1 for sub in s["oneOf"] if self._ok(sub, v, path, depth))
            if n != 1:
                errs.append(f"{path}: value must match exactly one schema (matched {n})")
        if "not" in s and self._ok(s["not"], v, path, depth):
            errs.append(f"{path}: value must not match the schema")
        if "if" in s:
            if self._ok(s["if"], v, path, depth):
                if "then" in s:
                    self._v(s["then"], v, path, errs, depth + 1)
            elif "else" in s:
                self._v(s["else"], v, path, errs, depth + 1)

    def _ok(self, s: Any, v: Any, path: str, depth: int) -> bool:
        sub: list[str] = []
        self._v(s, v, path, sub, depth + 1)
        return not sub

    def _number(self, s: dict, v: float, path: str, errs: list[str]) -> None:
        mn, mx = s.get("minimum"), s.get("maximum")
        xmn, xmx = s.get("exclusiveMinimum"), s.get("exclusiveMaximum")
        if xmn is True:   # draft-04 boolean form
            xmn, mn = mn, None
        if xmx is True:
            xmx, mx = mx, None
        if isinstance(mn, (int, float)) and not isinstance(mn, bool) and v < mn:
            errs.append(f"{path}: must be >= {mn}")
        if isinstance(mx, (int, float)) and not isinstance(mx, bool) and v > mx:
            errs.append(f"{path}: must be <= {mx}")
        if isinstance(xmn, (int, float)) and not isinstance(xmn, bool) and v <= xmn:
            errs.append(f"{path}: must be > {xmn}")
        if isinstance(xmx, (int, float)) and not isinstance(xmx, bool) and v >= xmx:
            errs.append(f"{path}: must be < {xmx}")
        m = s.get("multipleOf")
        if isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0:
            q = v / m
            if not (math.isfinite(q) and abs(q - round(q)) < 1e-9):
                errs.append(f"{path}: must be a multiple of {m}")

    def _string(self, s: dict, v: str, path: str, errs: list[str]) -> None:
        n = len(v)
        if isinstance(s.get("minLength"), int) and n < s["minLength"]:
            errs.append(f"{path}: length must be >= {s['minLength']}")
        if isinstance(s.get("maxLength"), int) and n > s["maxLength"]:
            errs.append(f"{path}: length must be <= {s['maxLength']}")
        if "pattern" in s and not self._re(s["pattern"]).search(v):
            errs.append(f"{path}: does not match pattern {s['pattern']!r}")

    def _array(self, s: dict, v: list, path: str, errs: list[str], depth: int) -> None:
        if isinstance(s.get("minItems"), int) and len(v) < s["minItems"]:
            errs.append(f"{path}: must have at least {s['minItems']} items")
        if isinstance(s.get("maxItems"), int) and len(v) > s["maxItems"]:
            errs.append(f"{path}: must have at most {s['maxItems']} items")
        if s.get("uniqueItems") is True:
            for i in range(len(v)):
                if any(_equal(v[i], v[j]) for j in range(i)):
                    errs.append(f"{path}: items must be unique")
                    break
        prefix = s.get("prefixItems")
        items = s.get("items")
        if isinstance(items, list):        # draft-07 tuple form
            prefix, items = items, s.get("additionalItems")
        start = 0
        if isinstance(prefix, list):
            for i, sub in enumerate(prefix[:len(v)]):
                self._v(sub, v[i], _path(path, i), errs, depth + 1)
            start = len(prefix)
        if items is not None and not isinstance(items, list):
            for i in range(start, len(v)):
                self._v(items, v[i], _path(path, i), errs, depth + 1)
        if "contains" in s:
            n = sum(1 for x in v if self._ok(s["contains"], x, path, depth))
            lo = s.get("minContains", 1)
            hi = s.get("maxContains")
            if n < lo or (isinstance(hi, int) and n > hi):
                errs.append(f"{path}: must contain matching items")

    def _object(self, s: dict, v: dict, path: str, errs: list[str], depth: int) -> None:
        for k in s.get("required", ()) or ():
            if k not in v:
                errs.append(f"{_path(path, k)}: required property is missing")
        if isinstance(s.get("minProperties"), int) and len(v) < s["minProperties"]:
            errs.append(f"{path}: must have at least {s['minProperties']} properties")
        if isinstance(s.get("maxProperties"), int) and len(v) > s["maxProperties"]:
            errs.append(f"{path}: must have at most {s['maxProperties']} properties")
        props = s.get("properties") or {}
        pprops = s.get("patternProperties") or {}
        addl = s.get("additionalProperties")
        names = s.get("propertyNames")
        for k, val in v.items():
            kp = _path(path, k)
            if names is not None:
                self._v(names, k, kp, errs, depth + 1)
            matched = False
            if k in props:
                matched = True
                self._v(props[k], val, kp, errs, depth + 1)
            for pat, sub in pprops.items():
                if self._re(pat).search(k):
                    matched = True
                    self._v(sub, val, kp, errs, depth + 1)
            if not matched and addl is not None:
                if addl is False:
                    errs.append(f"{kp}: additional property is not allowed")
                else:
                    self._v(addl, val, kp, errs, depth + 1)
        for k, deps in (s.get("dependentRequired") or s.get("dependencies") or {}).items():
            if k in v:
                if isinstance(deps, list):
                    for d in deps:
                        if d not in v:
                            errs.append(f"{_path(path, d)}: required by {k!r}")
                elif isinstance(deps, (dict, bool)):
                    self._v(deps, v, path, errs, depth + 1)
        for k, sub in (s.get("dependentSchemas") or {}).items():
            if k in v:
                self._v(sub, v, path, errs, depth + 1)


def install(engine) -> dict[str, Callable]:
    cache: OrderedDict[str, Validator | SchemaError] = OrderedDict()
    table_from = engine.lua.table_from

    def decode(text: str):
        """(True, table) for a JSON object or array that reads the same in Lua, else False:
        the Lua decoder then decodes it (and words any error)."""
        collecting = gc.isenabled()
        gc.disable()      # the document is acyclic and freed by reference counting
        try:
            doc = json.loads(text, parse_constant=_reject_constant)
            if type(doc) not in _CONTAINER or not _reads_as_lua(text, doc):
                return False
            return True, table_from(doc, recursive=True)
        except (ValueError, RecursionError, OverflowError):   # ValueError: also a lone surrogate
            return False
        finally:
            if collecting:
                gc.enable()

    def compile_schema(text: str) -> Validator:
        hit = cache.get(text)
        if hit is None:
            try:
                hit = Validator(json.loads(text))
            except (ValueError, SchemaError, RecursionError) as e:
                hit = SchemaError(f"compile schema: {e or 'nested too deeply'}")
            cache[text] = hit
            if len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(text)
        if isinstance(hit, SchemaError):
            raise hit
        return hit

    def validate(schema_text: str, data_text: str, lenient_empty: bool = True):
        """(ok, message), or (False, None) when it takes more than INLINE_STEPS: the Lua side
        then calls validate_off."""
        max_steps = engine.max_schema_steps or NO_LIMIT
        try:
            return _validate(schema_text, data_text, lenient_empty, min(INLINE_STEPS, max_steps),
                             inline=max_steps > INLINE_STEPS)
        except TooManySteps:
            return False, None

    async def validate_off(schema_text: str, data_text: str, lenient_empty: bool = True):
        try:
            v = compile_schema(schema_text)     # compiled (and cached) on the loop
        except SchemaError as e:
            return False, str(e)
        # a copy: the cached validator keeps its step count and mode per call
        return await offload.run(_validate_with, copy.copy(v), data_text, lenient_empty,
                                 engine.max_schema_steps or NO_LIMIT)

    def _validate(schema_text: str, data_text: str, lenient_empty: bool, max_steps: int, inline: bool):
        try:
            v = compile_schema(schema_text)
        except SchemaError as e:
            return False, str(e)
        except RecursionError:
            return False, "compile schema: nested too deeply"
        return _validate_with(v, data_text, lenient_empty, max_steps, inline)

    out: dict[str, Any] = {"unescape": unescape, "validate": validate, "validate_off": validate_off,
                          "decode": decode}
    codec = native.load(engine, "json")
    if codec is not None:
        out["c_encode"], out["c_decode"] = codec.encode, codec.decode
    return out


def _validate_with(v: Validator, data_text: str, lenient_empty: bool, max_steps: int = MAX_STEPS,
                   inline: bool = False):
    """(ok, message) of a validation within max_steps checks; past them, inline (a first try on
    the event loop) raises TooManySteps, else the message says so."""
    try:
        data = json.loads(data_text)
    except ValueError as e:
        return False, f"invalid JSON data: {e}"
    except RecursionError:
        return False, "invalid JSON data: nested too deeply"
    try:
        err = v.validate(data, bool(lenient_empty), max_steps)
    except TooManySteps:
        if inline:
            raise
        return False, f"schema error: validation took more than {max_steps} steps (max_schema_steps)"
    except SchemaError as e:
        return False, f"schema error: {e}"
    except RecursionError:
        return False, "schema error: recursion too deep"
    if err is None:
        return True, None
    return False, "validation failed: " + err
