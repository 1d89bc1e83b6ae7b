"""Wippy's Lua dialect: typed Lua 5.4 compiled to plain Lua, type values at run time, `wippy lint`.

compile() is the one door code enters by: the engine, the kind handlers and the operator call it.
Output is cached by content hash, so an unchanged source is parsed once per process; with a disk
cache (the `wippy` command sets one) an unchanged source is not parsed again by later processes
either, and a start-up whose sources are all cached never imports the parser.
"""
from __future__ import annotations

import hashlib
import os
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

from .errors import LuaSyntaxError

__all__ = ["compile", "parse", "LuaSyntaxError", "set_disk_cache", "front_end_version"]

_CACHE: "OrderedDict[bytes, str]" = OrderedDict()
_CACHE_MAX = 4096
_DISK: Optional[Path] = None


def __getattr__(name: str) -> Any:
    # the parser loads on first use, not with the package
    if name == "parse":
        from .parser import parse
        globals()["parse"] = parse
        return parse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def set_disk_cache(root: Optional[Path]) -> None:
    """Keep compiled sources under root (None: in memory only). Unreadable or unwritable
    folders only cost the parse: the cache is never needed for correctness."""
    global _DISK
    if root is None:
        _DISK = None
        return
    _DISK = root / f"lua-{front_end_version()}"


_VERSION: list[str] = []


def front_end_version() -> str:
    """A digest of this package's code, which decides what a source compiles to and what lint
    says of it: caches kept under it start afresh when the front end changes."""
    if not _VERSION:
        h = hashlib.blake2b(digest_size=8)
        for path in sorted(Path(__file__).parent.glob("*.py")):
            h.update(path.name.encode() + b"\0" + path.read_bytes())
        _VERSION.append(h.hexdigest())
    return _VERSION[0]


def _disk_read(key: bytes) -> Optional[str]:
    if _DISK is None:
        return None
    try:
        return (_DISK / (key.hex() + ".lua")).read_text("utf-8", "surrogatepass")
    except (OSError, ValueError):
        return None


def _disk_write(key: bytes, out: str) -> None:
    if _DISK is None:
        return
    path = _DISK / (key.hex() + ".lua")
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        _DISK.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(out, "utf-8", "surrogatepass")
        os.replace(tmp, path)   # readers see the whole file or none
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass


def compile(source: str, chunk: str = "?", preempt: bool = False) -> str:
    """Plain Lua for a Wippy Lua source, each line on its source line; raises LuaSyntaxError.
    With `preempt`, the output has the engine's yield points (see emit.py) and expects the
    local `__wy` the engine binds above it."""
    key = hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=20,
                          person=b"preempt" if preempt else b"").digest()
    out = _CACHE.get(key)
    if out is not None:
        _CACHE.move_to_end(key)
        return out
    out = _disk_read(key)
    if out is None:
        from .emit import emit
        try:
            out = emit(sys.modules[__name__].parse(source, chunk), preempt)
        except LuaSyntaxError:
            raise
        except RecursionError:
            raise LuaSyntaxError("chunk has too many syntax levels", 1, chunk) from None
        _disk_write(key, out)
    _CACHE[key] = out
    if len(_CACHE) > _CACHE_MAX:
        _CACHE.popitem(last=False)
    return out


class SyntaxChecker:
    """Whether a source is Wippy Lua that Lua 5.4 accepts, without running it.

    The front end catches the dialect's errors; loading the emitted Lua (as the engine loads
    it, with its yield points) catches what only Lua's compiler knows (a `goto` without its
    label, too many locals, ...).
    """

    def __init__(self) -> None:
        from lupa import lua54
        lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
        self._load = lua.eval("function(src, name) local f, err = load(src, name, 't', {}); return err end")

    def error(self, chunk: str, source: str) -> str | None:
        """None when the source compiles, else Lua-style `chunk:line: message`."""
        try:
            plain = compile(source, chunk, preempt=True)
        except LuaSyntaxError as e:
            return e.message
        return self._load("local __wy = ...; return function(_ENV, ...) " + plain + "\nend", "=" + chunk)


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
