"""compress module (lua/data/compress.md): every codec round-trips binary data, options are
checked, and bad input, bad levels, corrupt data and size limits are `nil, err` of the
documented kinds."""
from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
import zstandard

CODECS = ["gzip", "deflate", "zlib", "brotli", "zstd"]


async def run(app, body: str, *args):
    return await app.run("local compress = require('compress')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["compress"])


HEX = "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end\n"


@pytest.mark.parametrize("algo", CODECS)
async def test_round_trip_binary(app, algo):
    res = await run(app, f"""
    local data = string.rep("wippy \\0\\255\\128 data ", 500)
    local c, err = compress.{algo}.encode(data)
    assert(c, tostring(err))
    local d, err2 = compress.{algo}.decode(c)
    return {{d == data, err2 == nil, #c < #data}}
    """)
    assert res == [True, True, True]


@pytest.mark.parametrize("algo, decode", [
    ("gzip", gzip.decompress), ("zlib", zlib.decompress),
    ("deflate", lambda b: zlib.decompress(b, -15)), ("brotli", brotli.decompress),
    ("zstd", lambda b: zstandard.ZstdDecompressor().decompress(b)),
])
async def test_encode_is_the_standard_format(app, algo, decode):
    res = await run(app, HEX + f"return hex(compress.{algo}.encode('hello hello hello', {{level = 9}}))")
    assert decode(bytes.fromhex(res)) == b"hello hello hello"


@pytest.mark.parametrize("algo, encode", [
    ("gzip", gzip.compress), ("zlib", zlib.compress), ("brotli", brotli.compress),
    ("deflate", lambda b: zlib.compressobj(6, zlib.DEFLATED, -15).compress(b) + zlib.compressobj(6, zlib.DEFLATED, -15).flush()),
    ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
])
async def test_decode_standard_data(app, algo, encode):
    if algo == "deflate":
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        blob = c.compress(b"made by python") + c.flush()
    else:
        blob = encode(b"made by python")
    esc = "".join(f"\\{b}" for b in blob)
    assert await run(app, f"return compress.{algo}.decode('{esc}')") == "made by python"


async def test_gzip_multiple_members(app):
    blob = gzip.compress(b"one ") + gzip.compress(b"two")
    esc = "".join(f"\\{b}" for b in blob)
    assert await run(app, f"return compress.gzip.decode('{esc}')") == "one two"


@pytest.mark.parametrize("algo, lo, hi", [("gzip", 1, 9), ("deflate", 1, 9), ("zlib", 1, 9),
                                          ("brotli", 0, 11), ("zstd", 1, 22)])
async def test_levels(app, algo, lo, hi):
    res = await run(app, f"""
    local out = {{}}
    for _, l in ipairs({{{lo}, {hi}}}) do
      local c, err = compress.{algo}.encode("abcabcabc", {{level = l}})
      out[#out + 1] = compress.{algo}.decode(c)
    end
    for _, l in ipairs({{{lo - 1}, {hi + 1}}}) do
      local c, err = compress.{algo}.encode("abc", {{level = l}})
      out[#out + 1] = (c == nil) and err:kind() or "accepted"
      out[#out + 1] = err:retryable()
    end
    return out
    """)
    assert res == ["abcabcabc", "abcabcabc", "Invalid", False, "Invalid", False]


@pytest.mark.parametrize("algo", CODECS)
async def test_errors(app, algo):
    res = await run(app, f"""
    local _, e1 = compress.{algo}.encode("")
    local _, e2 = compress.{algo}.decode("")
    local _, e3 = compress.{algo}.decode("this is not compressed data at all")
    local _, e4 = compress.{algo}.encode("x", {{speed = 1}})
    local _, e5 = compress.{algo}.encode(42)
    return {{e1:kind(), e2:kind(), e3:kind(), e4:kind(), tostring(e4), e5:kind()}}
    """)
    assert res == ["Invalid", "Invalid", "Invalid", "Invalid", "unknown option 'speed'", "Invalid"]


@pytest.mark.parametrize("algo", CODECS)
async def test_max_size(app, algo):
    res = await run(app, f"""
    local c = compress.{algo}.encode(string.rep("a", 100000))
    local d1, e1 = compress.{algo}.decode(c, {{max_size = 99999}})
    local d2 = compress.{algo}.decode(c, {{max_size = 100000}})
    local _, e3 = compress.{algo}.decode(c, {{max_size = 2 * 1024 * 1024 * 1024}})
    return {{d1 == nil, e1:kind(), #d2, e3:kind()}}
    """)
    assert res == [True, "Internal", 100000, "Invalid"]


async def test_truncated_stream(app):
    res = await run(app, """
    local c = compress.gzip.encode(string.rep("hello ", 1000))
    local d, e = compress.gzip.decode(c:sub(1, #c - 10))
    return {d == nil, e:kind()}
    """)
    assert res == [True, "Invalid"]


async def test_zstd_dictionary(app):
    res = await run(app, """
    local samples = {}
    for i = 1, 300 do samples[i] = '{"user_id":' .. i .. ',"name":"user' .. i .. '","active":true,"role":"member"}' end
    local dict, err = compress.zstd.train_dict(samples, {size = 2048, id = 77})
    assert(dict, tostring(err))
    local data = samples[42]
    local plain = compress.zstd.encode(data)
    local packed = compress.zstd.encode(data, {dict = dict})
    local back = compress.zstd.decode(packed, {dict = dict})
    local _, wrong = compress.zstd.decode(packed)
    local info = compress.zstd.inspect_dict(dict)
    local _, bad_train = compress.zstd.train_dict({"short"})
    local _, bad_size = compress.zstd.train_dict(samples, {size = 10})
    local _, bad_dict = compress.zstd.inspect_dict("not a dictionary")
    return {back == data, #packed < #plain, wrong:kind(), info.id, info.content_size == #dict,
            bad_train:kind(), bad_size:kind(), bad_dict:kind()}
    """)
    assert res == [True, True, "Invalid", 77, True, "Invalid", "Invalid", "Invalid"]


async def test_zstd_multiple_frames_and_declared_size(app):
    frame = zstandard.ZstdCompressor().compress(b"abc")
    esc = "".join(f"\\{b}" for b in frame + frame)
    res = await run(app, f"""
    local two = compress.zstd.decode('{esc}')
    local big = compress.zstd.encode(string.rep("z", 5000))
    local _, e = compress.zstd.decode(big, {{max_size = 4999}})
    return {{two, e:kind()}}
    """)
    assert res == ["abcabc", "Internal"]


@pytest.mark.parametrize("algo", CODECS)
async def test_decode_on_and_off_the_loop(app, algo):
    # up to 1 MB of output a decode runs on the loop; past it, it starts over in a thread:
    # the same bytes and errors either way, on both sides of the bound
    res = await run(app, f"""
    local out = {{}}
    for _, n in ipairs({{1048575, 1048576, 1048577, 3 * 1048576}}) do
      local data = string.rep("0123456789abcdef", n // 16) .. string.rep("x", n % 16)
      local c = assert(compress.{algo}.encode(data))
      local d, err = compress.{algo}.decode(c)
      local _, big = compress.{algo}.decode(c, {{max_size = n - 1}})
      local exact = compress.{algo}.decode(c, {{max_size = n}})
      out[#out + 1] = {{d == data, err == nil, big:kind(), exact == data}}
    end
    local _, bad = compress.{algo}.decode(string.rep("\\1", 100))
    out[#out + 1] = bad:kind()
    return out
    """)
    assert res == [[True, True, "Internal", True]] * 4 + ["Invalid"]
