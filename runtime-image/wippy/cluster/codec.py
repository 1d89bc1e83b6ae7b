"""The mesh's wire encoding: MessagePack, with Wippy errors as an extension type. Values are
what Lua values become in Python (engine/convert.py): nil, booleans, numbers, strings, bytes,
lists, maps and errors."""
from __future__ import annotations

from typing import Any

import msgpack

from ..engine.errors import WippyError

ERROR_EXT = 1
MAX_FRAME = 64 * 1024 * 1024   # one frame (a message and its payload) at most


def _default(obj: Any) -> Any:
    if isinstance(obj, WippyError):
        return msgpack.ExtType(ERROR_EXT, msgpack.packb([obj.kind, obj.message, obj.retryable, obj.details],
                                                        default=_default, use_bin_type=True))
    if isinstance(obj, tuple):
        return list(obj)
    raise TypeError(f"cannot send a {type(obj).__name__} to another node")


def _ext(code: int, data: bytes) -> Any:
    if code == ERROR_EXT:
        # [kind, message, retryable, details], and an engine's stack (engine/lua/wire.lua), which
        # Python keeps as an error's details when it has none (as engine.error_to_python does)
        kind, message, retryable, details, *stack = msgpack.unpackb(data, ext_hook=_ext, raw=False,
                                                                   strict_map_key=False)
        return WippyError(kind, message, retryable, stack[0] if details is None and stack else details)
    return msgpack.ExtType(code, data)


def packer() -> msgpack.Packer:
    return msgpack.Packer(default=_default, use_bin_type=True)


class ExtCount:
    """Counts the extension values (errors) an unpacker decoded: a frame without one is plain
    data, which an engine may take in bulk."""
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def hook(self, code: int, data: bytes) -> Any:
        self.n += 1
        return _ext(code, data)


def unpacker(ext: ExtCount | None = None) -> msgpack.Unpacker:
    return msgpack.Unpacker(ext_hook=ext.hook if ext is not None else _ext, raw=False, strict_map_key=False,
                            max_buffer_size=MAX_FRAME)


def unpacker_of(data: bytes) -> msgpack.Unpacker:
    """The values written back to back in data."""
    unp = unpacker()
    unp.feed(data)
    return unp


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, ext_hook=_ext, raw=False, strict_map_key=False)
