"""Python side of the `compress` module: zlib (gzip/deflate/zlib), brotli and zstandard.

Decoding stops one byte past `max_size`, so a small bomb never inflates in memory."""
from __future__ import annotations

import zlib

import brotli
import zstandard

from ..engine.errors import WippyError, INVALID, INTERNAL
from .binary import take, view

_WBITS = {"gzip": 31, "deflate": -15, "zlib": 15}
_CHUNK = 1 << 20


def _dict(ref, n):
    if ref is None:
        return None
    return zstandard.ZstdCompressionDict(take(ref, n))


def encode(algo: str, ref, n: int, level: int, dref=None, dn: int = 0) -> bytes:
    data = view(ref, n)
    if algo in _WBITS:
        c = zlib.compressobj(level, zlib.DEFLATED, _WBITS[algo])
        return c.compress(data) + c.flush()
    if algo == "brotli":
        return brotli.compress(data, quality=level)
    return zstandard.ZstdCompressor(level=level, dict_data=_dict(dref, dn)).compress(data)


def _too_big(max_size: int) -> WippyError:
    return WippyError(INTERNAL, f"decompressed size exceeds limit of {max_size} bytes", False)


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


def decode(algo: str, ref, n: int, max_size: int, dref=None, dn: int = 0) -> bytes:
    data = view(ref, n)
    try:
        if algo in _WBITS:
            return _zlib_decode(algo, data, max_size)
        if algo == "brotli":
            d = brotli.Decompressor()
            out = d.process(data, output_buffer_limit=max_size + 1)
            if len(out) > max_size:
                raise _too_big(max_size)
            if not d.is_finished():
                raise WippyError(INVALID, "invalid brotli data: unexpected end of stream", False)
            return out
        dctx = zstandard.ZstdDecompressor(dict_data=_dict(dref, dn))
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


def install(engine):
    def inspect_lua(ref, n):
        return engine.to_lua(inspect(ref, n))
    return {"encode": encode, "decode": decode, "train": train, "inspect": inspect_lua}
