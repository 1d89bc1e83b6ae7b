"""Internal: the Python side of passing Lua strings as bytes (see binary.lua).

`take(ref, n)` turns what `S.bytes.arg(s)` produced into the exact bytes of `s`: `ref` is
either the address of the Lua string object (Lua 5.4 keeps the characters
`_CONTENT_OFFSET` bytes after it, and the string stays alive on the caller's stack during
the call) or, in the fallback, the string as latin-1 text. `fresh(n)` is the other way: a
result that Python code writes into in place, without assembling it from pieces.
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
_PyBUF_READ, _PyBUF_WRITE = 0x100, 0x200
_new_bytes = ctypes.pythonapi.PyBytes_FromStringAndSize
_new_bytes.restype = ctypes.py_object
_new_bytes.argtypes = (ctypes.c_void_p, ctypes.c_ssize_t)
_bytes_address = ctypes.pythonapi.PyBytes_AsString
_bytes_address.restype = ctypes.c_void_p
_bytes_address.argtypes = (ctypes.py_object,)
_BYTES_OFFSET = _bytes_address(_PROBE) - id(_PROBE)   # where a bytes object keeps its characters


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


def fresh(n: int) -> tuple[bytes, memoryview]:
    """A new bytes object of n uninitialized bytes and a writable view of them, for the caller
    to fill before the bytes are handed on (the C API's way to build a bytes in place; it is
    not shared until then). Saves a copy of the whole result, and a second allocation of its
    size, over joining pieces; costs ~2us more, so it pays from some tens of KB."""
    out = _new_bytes(None, n)
    return out, _memory_view(id(out) + _BYTES_OFFSET, n, _PyBUF_WRITE)


def _check(ref, n) -> bool:
    return type(ref) is int and n == len(_PROBE) and take(ref, n) == _PROBE


def install(engine):
    return {"check": _check}
