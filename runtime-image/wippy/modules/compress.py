"""Python side of the `compress` module: zlib (gzip/deflate/zlib), brotli and zstandard.

Decoding stops one byte past `max_size`, so a small bomb never inflates in memory."""
from __future__ import annotations

import zlib

import brotli
import zstandard

from ..engine.errors import WippyError, INVALID, INTERNAL
from . import offload
from .binary import take, view

_WBITS = {"gzip": 31, "deflate": -15, "zlib": 15}
_CHUNK = 1 << 20


def _dict(d: bytes | None):
    return None if d is None else zstandard.ZstdCompressionDict(d)


def _take_dict(dref, dn: int) -> bytes | None:
    return None if dref is None else take(dref, dn)


def encode(algo: str, ref, n: int, level: int, dref=None, dn: int = 0) -> bytes:
    return _encode(algo, view(ref, n), level, _take_dict(dref, dn))


def _encode(algo: str, data, level: int, d: bytes | None) -> bytes:
    if algo in _WBITS:
        c = zlib.compressobj(level, zlib.DEFLATED, _WBITS[algo])
        return c.compress(data) + c.flush()
    if algo == "brotli":
        return brotli.compress(data, quality=level)
    return zstandard.ZstdCompressor(level=level, dict_data=_dict(d)).compress(data)


class _TooBig(WippyError):
    pass


def _too_big(max_size: int) -> WippyError:
    return _TooBig(INTERNAL, f"decompressed size exceeds limit of {max_size} bytes", False)


def _zlib_decode(algo: str, data: bytes, max_size: int) -> bytes:
    out, total = [], 0
    while True:
        d = zlib.decompressobj(_WBITS[algo])
        chunk = d.decompress(data, max_size + 1 - total)
        total += len(chunk)
        out.append(chunk)
        if total > max_size or d.unconsumed_tail:
            raise _too_big(max_size)
        if not d.eof:
            raise WippyError(INVALID, f"invalid {algo} data: unexpected end of stream", False)
        data = d.unused_data
        # gzip files may hold several members, read one after the other (as Go does)
        if algo != "gzip" or not data:
            return b"".join(out)


def decode(algo: str, ref, n: int, max_size: int, dref=None, dn: int = 0) -> bytes | bool:
    """decode on the loop, of at most offload.INLINE_OUTPUT bytes of output: False when there
    is more (decode_off then decodes it in a thread, from the start)."""
    limit = min(max_size, offload.INLINE_OUTPUT)
    try:
        return _decode(algo, view(ref, n), limit, _take_dict(dref, dn))
    except _TooBig:
        if limit == max_size:
            raise
        return False


def _decode(algo: str, data, max_size: int, d: bytes | None) -> bytes:
    try:
        if algo in _WBITS:
            return _zlib_decode(algo, data, max_size)
        if algo == "brotli":
            br = brotli.Decompressor()
            out = br.process(data, output_buffer_limit=max_size + 1)
            if len(out) > max_size:
                raise _too_big(max_size)
            if not br.is_finished():
                raise WippyError(INVALID, "invalid brotli data: unexpected end of stream", False)
            return out
        dctx = zstandard.ZstdDecompressor(dict_data=_dict(d))
        size = zstandard.frame_content_size(data)
        if size > max_size:
            raise _too_big(max_size)
        if size >= 0:
            # the frame says how big it is: one call, unless more frames follow
            try:
                return dctx.decompress(data, allow_extra_data=False)
            except zstandard.ZstdError:
                pass    # several frames, or corrupt: the stream path reads or reports them
        with dctx.stream_reader(data, read_across_frames=True) as r:
            out = r.read(max_size + 1)
        if len(out) > max_size:
            raise _too_big(max_size)
        return out
    except (zlib.error, brotli.error, zstandard.ZstdError) as e:
        raise WippyError(INVALID, f"invalid {algo} data: {e}", False) from None


def train(refs, lens, count: int, size: int, dict_id: int, level: int) -> bytes:
    samples: list[bytes | bytearray | memoryview] = [take(refs[i], lens[i]) for i in range(1, count + 1)]
    try:
        d = zstandard.train_dictionary(size, samples, dict_id=dict_id, level=level)
    except zstandard.ZstdError as e:
        raise WippyError(INVALID, f"dictionary training failed: {e}", False) from None
    return d.as_bytes()


def inspect(ref, n: int):
    data = take(ref, n)
    try:
        d = zstandard.ZstdCompressionDict(data, dict_type=zstandard.DICT_TYPE_FULLDICT)
        d.precompute_compress(level=1)   # parses the dictionary: raises if it is not one
    except zstandard.ZstdError as e:
        raise WippyError(INVALID, f"invalid zstd dictionary: {e}", False) from None
    return {"id": d.dict_id(), "content_size": len(data)}


async def encode_off(algo: str, ref, n: int, level: int, dref=None, dn: int = 0) -> bytes:
    """encode of a large input, in a worker thread (offload.py)."""
    return await offload.run(_encode, algo, take(ref, n), level, _take_dict(dref, dn))


async def decode_off(algo: str, ref, n: int, max_size: int, dref=None, dn: int = 0) -> bytes:
    """decode of a large input or output, in a worker thread (offload.py)."""
    return await offload.run(_decode, algo, take(ref, n), max_size, _take_dict(dref, dn))


def install(engine):
    def inspect_lua(ref, n):
        return engine.to_lua(inspect(ref, n))
    return {"encode": encode, "decode": decode, "encode_off": encode_off, "decode_off": decode_off,
            "train": train, "inspect": inspect_lua, "inline_bytes": offload.INLINE_BYTES}
