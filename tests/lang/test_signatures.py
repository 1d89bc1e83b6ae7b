"""lang/signatures.py against what the runtime installs: the linter and the runtime cannot drift.

Every global of the sandbox has a signature, every module has signatures, its members (constants
and the functions of its sub-tables included) one each, and no signature names something the
runtime lacks. When this
fails after adding a function to a module, add its signature to lang/signatures.py.
"""
from __future__ import annotations

import pytest

from wippy.lang.lint import builtin_globals, module_type
from wippy.lang.signatures import GLOBALS, MODULES
from wippy.lang.typesys import Rec
from wippy.modules import INTERNAL, SPECS
from tests.engine.conftest import LuaApp

_DUMP = """function(S)
  local function names(t)
    local out = {}
    if type(t) ~= "table" then return out end
    for k in pairs(t) do out[#out + 1] = tostring(k) end
    local mt = debug.getmetatable(t)
    if mt and type(mt.__index) == "table" then
      for k in pairs(mt.__index) do out[#out + 1] = tostring(k) end
    end
    return out
  end
  local mods, glob = {}, {}
  -- a module's sub-tables (system.memory, ...) as name -> names
  local function members(m)
    local out = {}
    for _, k in ipairs(names(m)) do
      local v = m[k]
      out[k] = type(v) == "table" and names(v) or false
    end
    return out
  end
  for name, m in pairs(S.modules) do mods[name] = members(m) end
  for name, v in pairs(S.base) do glob[name] = type(v) == "table" and names(v) or false end
  return mods, glob
end"""


@pytest.fixture(scope="module")
def runtime_members():
    import asyncio

    async def dump():
        app = LuaApp(terminal=True)
        mods, glob = app.engine.lua.eval(_DUMP)(app.engine.S)
        py = app.engine.py
        return py(mods), py(glob)

    return asyncio.run(dump())


def _listed(v) -> set[str]:
    return set(v) if isinstance(v, (list, dict)) else set()


def test_every_global_has_a_signature_and_every_signature_a_global(runtime_members):
    _, glob = runtime_members
    global_modules = {s.name for s in SPECS if s.is_global}
    assert set(glob) - set(GLOBALS) - global_modules == set(), "globals without a signature"
    assert set(GLOBALS) - set(glob) == set(), "signatures of globals the runtime does not have"
    for name, spec in GLOBALS.items():
        if isinstance(spec, dict):
            assert set(spec) == _listed(glob[name]), f"members of global '{name}'"


def test_every_module_has_signatures():
    requirable = {s.name for s in SPECS} - INTERNAL
    assert requirable - set(MODULES) == set(), "modules without signatures (add them to lang/signatures.py)"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_typed_module_matches_the_runtime(runtime_members, name):
    mods, _ = runtime_members
    assert name in mods, f"signatures for a module the runtime does not install: {name}"
    have = _listed(mods[name])   # constants (time.SECOND, websocket.TEXT) included
    typed = set(MODULES[name])
    assert typed - _listed(mods[name]) == set(), f"{name}: signatures for members it lacks"
    assert have - typed == set(), f"{name}: members without a signature (add them to lang/signatures.py)"
    for member, spec in MODULES[name].items():
        if isinstance(spec, dict):
            assert set(spec) == _listed(mods[name][member]), f"members of {name}.{member}"


def test_signatures_parse_into_types():
    g = builtin_globals()
    assert isinstance(g["string"], Rec) and "upper" in g["string"].fields
    for name in MODULES:
        assert isinstance(module_type(name), Rec)
