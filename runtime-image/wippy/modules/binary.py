"""Internal: the Python side of passing Lua strings as bytes (see binary.lua).

`take(ref, n)` turns what `S.bytes.arg(s)` produced into the exact bytes of `s`: `ref` is
either the address of the Lua string object (Lua 5.4 keeps the characters
`_CONTENT_OFFSET` bytes after it, and the string stays alive on the caller's stack during
the call) or, in the fallback, the string as latin-1 text.
"""
from __future__ import annotations

import ctypes

_CONTENT_OFFSET = 24     # offsetof(TString, contents) in Lua 5.4 on 64-bit platforms
_PROBE = b"wippy\0\xff\1 bytes"

# A read-only memoryview over raw memory in one C call: `(ctypes.c_char * n).from_address`
# creates a ctypes array type for every new length (~30us each, most calls have a new one)
_memory_view = ctypes.pythonapi.PyMemoryView_FromMemory
_memory_view.restype = ctypes.py_object
_memory_view.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t, ctypes.c_int)
_PyBUF_READ = 0x100


def take(ref, n: int) -> bytes:
    if type(ref) is int:
        return ctypes.string_at(ref + _CONTENT_OFFSET, n)
    return ref.encode("latin-1")


def view(ref, n: int):
    """The bytes of the string without copying them: only for use within the call (the Lua
    string is kept alive by the caller's stack until the call returns, not longer). Read-only:
    Lua strings are immutable, and may be shared."""
    if type(ref) is int:
        return _memory_view(ref + _CONTENT_OFFSET, n, _PyBUF_READ)
    return ref.encode("latin-1")


def _check(ref, n) -> bool:
    return type(ref) is int and n == len(_PROBE) and take(ref, n) == _PROBE


def install(engine):
    return {"check": _check}
