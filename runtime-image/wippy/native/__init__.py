"""Native (C) codecs for Lua modules, loaded into each engine's Lua state when built.

build.sh compiles them (scripts/setup.sh and the runtime image run it); a codec not built is
simply absent and its module runs its Lua/Python code. They call the Lua C API of the Lua that
lupa's lua54 extension embeds, which is why they are loaded by `package.loadlib` into the state
itself (trusted runtime code, before any entry runs) rather than through Python.
"""
from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import Any

from lupa import lua54

log = logging.getLogger(__name__)

_DIR = Path(__file__).resolve().parent
enabled = True          # tests switch it off to run the modules' own code
_exported = False
_LOAD = "function(path, name) local open, err = package.loadlib(path, name); return open and open() or false, err end"


def _export_lua_api() -> None:
    """Make lupa's Lua symbols visible to libraries loaded later (Python loads extensions with
    RTLD_LOCAL); the library is already loaded, so this only widens its scope."""
    global _exported
    if not _exported:
        ctypes.CDLL(lua54.__file__, mode=os.RTLD_NOW | os.RTLD_GLOBAL | os.RTLD_NOLOAD)
        _exported = True


def path(name: str) -> Path:
    return _DIR / f"_{name}.so"


def load(engine, name: str) -> Any:
    """The codec `name` (its luaopen_wippy_<name> table) in the engine's Lua state, or None."""
    so = path(name)
    if not enabled or not so.is_file():
        return None
    _export_lua_api()
    codec, err = engine.lua.eval(_LOAD)(str(so), f"luaopen_wippy_{name}")
    if not codec:
        log.warning("native %s codec not loaded (%s): using the Lua code", name, err)
        return None
    return codec
