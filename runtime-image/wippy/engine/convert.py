"""Values crossing between Lua and Python.

Lua tables become dicts or lists (a table whose keys are exactly 1..n is a list, the
empty table is an empty list, as Wippy's JSON does); Python values become fresh Lua
tables, so nothing is ever shared between engines by reference.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any

from lupa import lua54

from .errors import WippyError

lua_type = lua54.lua_type


class NotConvertible(ValueError):
    pass


# What one conversion may visit (the host's max_convert_tables and max_convert_values, 0 = no
# limit): shared subtables convert to copies, so a small Lua value can stand for billions of
# Python objects (2,000 references to one row of 2,000 numbers are 4M values). A conversion runs
# on the event loop in one go, and lupa reads a table's items at a few microseconds each (250k
# took 0.7s on a loaded 2-core machine): the default of 100k values keeps it near 100 ms. Each
# table walked runs a little Lua (classify), where the calling task's slice limit applies.
NO_LIMIT = 1 << 62
# Plain data (tables of strings, numbers and booleans, as JSON holds) is converted in two C calls
# instead: the native codec's `plain` writes it as JSON text (wippy/native/json.c) and json.loads
# reads that: records convert 2-3x faster than item by item through lupa, and a DAG the caps refuse
# is counted in C in a few ms (the walk took 100+ ms; bench/convert.py). It runs no Lua code (raw
# reads only) and its buffers are Lua userdata, so a memory error in it leaks nothing. Up to this
# much text; beyond it, or for anything else, the walk below.
MAX_PLAIN_BYTES = 8 * 1024 * 1024


# leaves that need no conversion: tested inline so most values of a table cost no call
_PLAIN = frozenset({str, int, float, bool, bytes, type(None)})


def to_python(engine, value: Any, _depth: int = 0, _count: list | None = None) -> Any:
    if type(value) in _PLAIN:
        return value
    kind = lua_type(value)
    if kind is None:
        return value
    if kind != "table":
        raise NotConvertible(f"cannot convert a Lua {kind} value")
    if _depth > 128:
        raise NotConvertible("value nested deeper than 128 levels")
    if _count is None:
        plain = engine.plain
        if plain is not None:
            r = plain(value, MAX_PLAIN_BYTES, engine.max_convert_tables or NO_LIMIT,
                      engine.max_convert_values or NO_LIMIT)
            if r.__class__ is tuple:     # (False, "tables" | "values")
                raise _too_large(engine, r[1])
            if r is not False:
                return json.loads(r)
        _count = [0, 0]
    _count[0] += 1
    if _count[0] > (engine.max_convert_tables or NO_LIMIT):
        raise _too_large(engine, "tables")
    tag = engine.classify(value)
    if tag == "error":
        return engine.error_to_python(value)
    if tag == "payload":
        return to_python(engine, value.v, _depth + 1, _count)
    items = list(value.items())
    n = len(items)
    if not n:
        return []
    _count[1] += n
    if _count[1] > (engine.max_convert_values or NO_LIMIT):
        raise _too_large(engine, "values")
    d, plain = _depth + 1, _PLAIN
    if all(type(k) is int for k, _ in items) and sorted(k for k, _ in items) == list(range(1, n + 1)):
        items.sort(key=lambda kv: kv[0])
        return [v if type(v) in plain else to_python(engine, v, d, _count) for _, v in items]
    return {(k if type(k) is str else _key(k)): (v if type(v) in plain else to_python(engine, v, d, _count))
            for k, v in items}


def _too_large(engine, what: str) -> NotConvertible:
    limit = engine.max_convert_tables if what == "tables" else engine.max_convert_values
    return NotConvertible(f"value too large to convert (more than {limit} {what}: max_convert_{what} of host "
                          f"{engine.host})")


def _key(k: Any) -> Any:
    if isinstance(k, (str, int, float, bool)):
        return k
    raise NotConvertible(f"table key of unsupported type {lua_type(k) or type(k).__name__}")


def to_lua(engine, value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, WippyError):
        return engine.new_error(value)
    if isinstance(value, dict):
        t = engine.lua.table()
        for k, v in value.items():
            t[k] = to_lua(engine, v)
        return t
    if isinstance(value, (list, tuple)):
        t = engine.lua.table()
        for i, v in enumerate(value, 1):
            t[i] = to_lua(engine, v)
        return t
    if lua_type(value) is not None:
        return value
    raise NotConvertible(f"cannot pass a Python {type(value).__name__} to Lua")


# Values one slice of to_lua_sliced converts before it lets the event loop run (a few ms each)
SLICE_VALUES = 5_000


async def to_lua_sliced(engine, value: Any) -> Any:
    """to_lua for a large result of a module's async call (a decoded document): the tables are
    built a slice at a time, the event loop running between slices. A heap that passes the
    host's memory limit meanwhile ends the build with the caller's error."""
    if not isinstance(value, (dict, list, tuple)):
        return to_lua(engine, value)
    budget = SLICE_VALUES
    new_table = engine.lua.table
    root = new_table()
    # containers still to fill, each with the Lua table made for it
    pending: list[tuple[Any, Any]] = [(value, root)]
    while pending:
        src, t = pending.pop()
        for k, v in (src.items() if isinstance(src, dict) else enumerate(src, 1)):
            if isinstance(v, (dict, list, tuple)):
                sub = t[k] = new_table()
                pending.append((v, sub))
            else:
                t[k] = to_lua(engine, v)
            budget -= 1
            if budget <= 0:
                budget = SLICE_VALUES
                await asyncio.sleep(0)
                limit = engine.memory_limit()
                if limit and engine.memory_used() > limit:
                    raise WippyError("LimitExceeded", f"result too large: the memory limit of host {engine.host} "
                                                      f"(max_memory: {limit} bytes) was reached while building it",
                                     False)
    return root
