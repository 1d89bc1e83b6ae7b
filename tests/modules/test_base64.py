"""base64 module: standard alphabet, binary-safe, errors as values."""
from __future__ import annotations

import base64

import pytest


async def run(app, body: str, *args):
    return await app.run("local base64 = require('base64')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["base64"])


@pytest.mark.parametrize("text", ["", "Hello, world!", "a", "ab", "abc", "héllo 😀", "x" * 1000])
async def test_encode_matches_python(app, text):
    assert await run(app, "return base64.encode(...)", text) == base64.b64encode(text.encode()).decode()


async def test_decode(app):
    assert await run(app, "return base64.decode('SGVsbG8sIHdvcmxkIQ==')") == "Hello, world!"
    assert await run(app, "return base64.decode('')") == ""
    assert await run(app, "return base64.decode('aMOpbGxvIPCfmIA=')") == "héllo 😀"
    # line breaks are ignored, as in Go
    assert await run(app, "return base64.decode('SGVs\\nbG8=\\r\\n')") == "Hello"


async def test_binary_round_trip(app):
    # every byte value, including invalid UTF-8 sequences and NUL
    res = await run(app, """
    local bytes = {}
    for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
    local s = table.concat(bytes) .. "\\255\\254\\0\\192\\128"
    local enc = base64.encode(s)
    local dec = base64.decode(enc)
    return {enc, dec == s, #dec}
    """)
    raw = bytes(range(256)) + b"\xff\xfe\x00\xc0\x80"
    assert res == [base64.b64encode(raw).decode(), True, len(raw)]


async def test_decode_to_binary(app):
    res = await run(app, "local d = base64.decode('/wCA'); return {#d, d:byte(1), d:byte(2), d:byte(3)}")
    assert res == [3, 255, 0, 128]


@pytest.mark.parametrize("bad", ["invalid!base64", "invalid base64", "QQ", "QQ=", "Q===", "QQ==QQ==", "\xc3\xa9", "\\255abc"])
async def test_decode_invalid(app, bad):
    src = "local s = ...; if s == '\\\\255abc' then s = '\\255abc' end; local v, err = base64.decode(s); return {v == nil, err:kind(), err:message()}"
    res = await run(app, src, bad)
    assert res[0] is True and res[1] == "Invalid" and "illegal base64 data" in res[2], res


@pytest.mark.parametrize("fn", ["encode", "decode"])
async def test_non_string_input(app, fn):
    res = await run(app, f"""
    local out = {{}}
    for _, v in ipairs({{123, true, {{}}}}) do
      local r, err = base64.{fn}(v)
      out[#out + 1] = {{r == nil, err:kind(), err:message()}}
    end
    local r, err = base64.{fn}(nil)
    out[#out + 1] = {{r == nil, err:kind(), err:message()}}
    return out
    """)
    assert res == [[True, "Invalid", "string expected"]] * 4
