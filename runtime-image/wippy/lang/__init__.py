"""Wippy's Lua dialect: typed Lua 5.4 compiled to plain Lua, type values at run time, `wippy lint`.

compile() is the one door code enters by: the engine, the kind handlers and the operator call it.
Output is cached by content hash, so an unchanged source is parsed once per process.
"""
from __future__ import annotations

import hashlib
from collections import OrderedDict

from .errors import LuaSyntaxError
from .parser import parse
from .emit import emit

__all__ = ["compile", "parse", "emit", "LuaSyntaxError"]

_CACHE: "OrderedDict[bytes, str]" = OrderedDict()
_CACHE_MAX = 4096


def compile(source: str, chunk: str = "?") -> str:
    """Plain Lua for a Wippy Lua source, each line on its source line; raises LuaSyntaxError."""
    key = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20).digest()
    out = _CACHE.get(key)
    if out is not None:
        _CACHE.move_to_end(key)
        return out
    try:
        out = emit(parse(source, chunk))
    except LuaSyntaxError:
        raise
    except RecursionError:
        raise LuaSyntaxError("chunk has too many syntax levels", 1, chunk) from None
    _CACHE[key] = out
    if len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return out


class SyntaxChecker:
    """Whether a source is Wippy Lua that Lua 5.4 accepts, without running it.

    The front end catches the dialect's errors; loading the emitted Lua catches what only
    Lua's compiler knows (a `goto` without its label, too many locals, ...).
    """

    def __init__(self) -> None:
        from lupa import lua54
        lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
        self._load = lua.eval("function(src, name) local f, err = load(src, name, 't', {}); return err end")

    def error(self, chunk: str, source: str) -> str | None:
        """None when the source compiles, else Lua-style `chunk:line: message`."""
        try:
            plain = compile(source, chunk)
        except LuaSyntaxError as e:
            return e.message
        return self._load("return function(_ENV, ...) " + plain + "\nend", "=" + chunk)


_SIGNATURES: dict = {}


def signature_lua(name: str) -> str | None:
    """The run-time type of a built-in (`json.decode`, `print`) as a Lua expression over `__wt`,
    from lang/signatures.py, the table the linter reads too; None when it has no signature."""
    if name in _SIGNATURES:
        return _SIGNATURES[name]
    from .emit import Emitter
    from .signatures import GLOBALS, MODULES
    mod, _, member = name.rpartition(".")
    table = (MODULES.get(mod) or GLOBALS.get(mod)) if mod else GLOBALS
    spec = table.get(member) if isinstance(table, dict) else None
    out = None
    if isinstance(spec, str):
        from .parser import Parser
        out = Emitter().type_value(Parser(spec, "signature").type_())
    _SIGNATURES[name] = out
    return out
