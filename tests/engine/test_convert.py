"""Lua values reaching Python (a process's result, a module's argument): plain data goes through
the native codec (json.c's `plain`, then json.loads), the rest through lupa item by item; both
must give the same Python values, and the same size limits."""
from __future__ import annotations

import math

import pytest

from wippy import native
from wippy.engine.errors import WippyError

from .conftest import LuaApp

VALUES = [
    "{1, 2.0, 3.5, -0.0, 1e20, 2^53, math.huge, -math.huge, 0/0, math.mininteger, math.maxinteger}",
    "{a = 1, b = {x = 'y', z = {}}, ['é'] = 'ü\\n\\0\"\\\\', [''] = 0.1}",
    "{ {}, {{}}, {{{}}} }", "{true, false}", "{}",
    "{[1] = 'a', [3] = 'c'}", "{1, 2, x = 3}", "{[true] = 1, [1.5] = 2}", "{[0] = 'z'}",
    "setmetatable({a = 1}, {})", "{errors.new('boom')}", "{n = 1, inner = {errors.new('deep')}}",
    "(function() local t = {} for i = 1, 2000 do t[i] = {id = i, name = 'n' .. i, f = i / 7} end return t end)()",
    "(function() local d = {} local c = d for i = 1, 100 do c[1] = {} c = c[1] end return d end)()",
]


def _typed(v):
    """v with every float, dict and error made comparable (NaN, -0.0, key order, error text)."""
    if isinstance(v, float):
        return ("float", "nan" if math.isnan(v) else repr(v))
    if isinstance(v, dict):
        return ("dict", sorted(((repr(k), _typed(x)) for k, x in v.items())))
    if isinstance(v, list):
        return ("list", [_typed(x) for x in v])
    if isinstance(v, WippyError):
        return ("error", str(v))
    return (type(v).__name__, v)


async def _both(source: str, **opts):
    out = []
    for enabled in (True, False):
        native.enabled = enabled
        try:
            app = LuaApp(**opts)
            assert (app.engine.plain is not None) is enabled
            out.append(await app.run(source, modules=["expr"]))
        finally:
            native.enabled = True
    return out


@pytest.mark.parametrize("expr", VALUES)
async def test_plain_data_converts_as_the_walk_does(expr):
    fast, walked = await _both(f"function main() return {expr} end")
    assert _typed(fast) == _typed(walked)


async def test_too_large_a_value_is_refused_alike():
    fast, walked = await _both("""function main()
      local r = {} for i = 1, 2000 do r[i] = i end
      local t = {} for i = 1, 2000 do t[i] = r end
      local v, err = require("expr").eval("1", {x = t})
      return tostring(err) end""")
    assert fast == walked == ("expression environment: value too large to convert (more than 100000 values: "
                              "max_convert_values of host app:host)")


async def test_a_dag_for_a_python_module_gets_the_size_error_within_its_slice():
    """2^51 tables as a DAG of 17 levels: the codec counts 50,000 of them in a few ms, where
    reading them through lupa (7 to 20 microseconds each) ran past the caller's slice (100ms)."""
    app = LuaApp()
    r = await app.run("""function main()
      local t = {} for i = 1, 17 do t = {t, t, t, t, t, t, t, t} end
      local v, err = require("expr").eval("1", {x = t})
      return tostring(err) end""", modules=["expr"])
    assert "too large to convert (more than 50000 tables" in r
