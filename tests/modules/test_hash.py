"""hash module: digests, HMACs, FNV; hex by default, raw bytes on request; binary-safe."""
from __future__ import annotations

import hashlib
import hmac

import pytest


async def run(app, body: str, *args):
    return await app.run("local hash = require('hash')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["hash"])


ALGOS = ["md5", "sha1", "sha256", "sha512"]


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("text", ["", "hello", "héllo 😀", "x" * 10000])
async def test_digest_hex(app, algo, text):
    assert await run(app, f"return hash.{algo}(...)", text) == hashlib.new(algo, text.encode()).hexdigest()


async def test_known_vector(app):
    assert await run(app, "return hash.sha256('hello')") == \
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


@pytest.mark.parametrize("algo", ALGOS)
async def test_digest_raw(app, algo):
    res = await run(app, f"""
    local raw = hash.{algo}("hello", true)
    local hex = raw:gsub(".", function(c) return string.format("%02x", c:byte()) end)
    return {{#raw, hex}}
    """)
    d = hashlib.new(algo, b"hello").digest()
    assert res == [len(d), d.hex()]


@pytest.mark.parametrize("algo", ALGOS)
async def test_hmac(app, algo):
    res = await run(app, f"""
    local hex = hash.hmac_{algo}("message", "secret-key")
    local raw = hash.hmac_{algo}("message", "secret-key", true)
    return {{hex, #raw, (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))}}
    """)
    mac = hmac.new(b"secret-key", b"message", algo).digest()
    assert res == [mac.hex(), len(mac), mac.hex()]


async def test_binary_input(app):
    # bytes that are not valid UTF-8 are hashed as themselves
    data = bytes([0xff, 0x00, 0xc0, 0x80, 0x41])
    key = bytes([0xfe, 0xed])
    res = await run(app, """
    local d, k = "\\255\\0\\192\\128A", "\\254\\237"
    return {hash.sha256(d), hash.md5(d), hash.hmac_sha256(d, k), hash.hmac_sha1("plain", k)}
    """)
    assert res == [hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(),
                   hmac.new(key, data, "sha256").hexdigest(), hmac.new(key, b"plain", "sha1").hexdigest()]


def fnv1(data: bytes, bits: int) -> int:
    offset, prime = ((2166136261, 16777619) if bits == 32 else (14695981039346656037, 1099511628211))
    mask = (1 << bits) - 1
    h = offset
    for b in data:
        h = (h * prime) & mask
        h ^= b
    return h


@pytest.mark.parametrize("text", ["", "a", "hello", "héllo 😀", "the quick brown fox"])
async def test_fnv(app, text):
    res = await run(app, "local s = ...; return {hash.fnv32(s), math.type(hash.fnv32(s)), hash.fnv64(s)}", text)
    data = text.encode()
    assert res[0] == fnv1(data, 32) and res[1] == "integer"
    want64 = fnv1(data, 64)
    assert res[2] == (want64 if want64 < 2 ** 63 else float(want64))


async def test_deterministic(app):
    assert await run(app, "return hash.md5('test') == hash.md5('test') and hash.fnv64('x') == hash.fnv64('x')") is True


@pytest.mark.parametrize("call", [
    "hash.md5(123)", "hash.sha1(nil)", "hash.sha256({})", "hash.sha512(true)", "hash.fnv32(5)", "hash.fnv64(nil)",
    "hash.hmac_sha256(1, 'k')", "hash.hmac_sha512('d', nil)", "hash.hmac_md5('d', 5)", "hash.hmac_sha1(nil, nil)",
])
async def test_bad_input(app, call):
    res = await run(app, f"local v, err = {call}; return {{v == nil, err:kind(), err:message()}}")
    assert res[0] is True and res[1] == "Invalid" and "must be a string" in res[2]
