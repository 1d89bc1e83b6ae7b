"""crypto module (lua/security/crypto.md): random data, HMAC, AEAD ciphers, JWT, PBKDF2,
constant-time compare; invalid input is `nil, err` with the documented kinds."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

HEX = "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end\n"


async def run(app, body: str, *args):
    return await app.run("local crypto = require('crypto')\n" + HEX + "return function(...)\n" + body + "\nend",
                         *args, modules=["crypto"])


async def test_random(app):
    res = await run(app, """
    local b = crypto.random.bytes(32)
    local b2 = crypto.random.bytes(32)
    local s = crypto.random.string(40)
    local h = crypto.random.string(64, "0123456789abcdef")
    local u = crypto.random.uuid()
    local _, e1 = crypto.random.bytes(0)
    local _, e2 = crypto.random.bytes(1048577)
    local _, e3 = crypto.random.string(-1)
    return {#b, b ~= b2, #s, s:match("^[%w]+$") ~= nil, h:match("^[0-9a-f]+$") ~= nil, #h, u,
            e1:kind(), e2:kind(), e3:kind()}
    """)
    assert res[:6] == [32, True, 40, True, True, 64]
    assert len(res[6]) == 36 and res[6][14] == "4"
    assert res[7:] == ["Invalid", "Invalid", "Invalid"]


async def test_hmac(app):
    res = await run(app, """
    local _, e = crypto.hmac.sha256("", "data")
    return {crypto.hmac.sha256("key", "data"), crypto.hmac.sha512("key", "data"), e:kind()}
    """)
    assert res == [hmac.new(b"key", b"data", "sha256").hexdigest(), hmac.new(b"key", b"data", "sha512").hexdigest(),
                   "Invalid"]


@pytest.mark.parametrize("cipher, key_len, py", [("aes", 16, AESGCM), ("aes", 24, AESGCM), ("aes", 32, AESGCM),
                                                 ("chacha20", 32, ChaCha20Poly1305)])
async def test_aead_round_trip_and_format(app, cipher, key_len, py):
    res = await run(app, f"""
    local key = string.rep("k", {key_len})
    local data = "secret \\0\\255 data"
    local c1 = crypto.encrypt.{cipher}(data, key)
    local c2 = crypto.encrypt.{cipher}(data, key, "aad")
    local p1 = crypto.decrypt.{cipher}(c1, key)
    local p2 = crypto.decrypt.{cipher}(c2, key, "aad")
    local bad, e1 = crypto.decrypt.{cipher}(c2, key, "other aad")
    local bad2, e2 = crypto.decrypt.{cipher}(c1, string.rep("x", {key_len}))
    local _, e3 = crypto.encrypt.{cipher}(data, "short")
    local _, e4 = crypto.encrypt.{cipher}(data, "")
    return {{p1 == data, p2 == data, c1 ~= crypto.encrypt.{cipher}(data, key), hex(c2),
             e1:kind(), e2:kind(), e3:kind(), e4:kind()}}
    """)
    assert res[:3] == [True, True, True]
    blob = bytes.fromhex(res[3])
    assert py(b"k" * key_len).decrypt(blob[:12], blob[12:], b"aad") == b"secret \0\xff data"
    assert res[4:] == ["Internal", "Internal", "Invalid", "Invalid"]


@pytest.mark.parametrize("cipher, py", [("aes", AESGCM), ("chacha20", ChaCha20Poly1305)])
async def test_aead_large_data(app, cipher, py):
    # ciphertexts from 32 KB are written in place, not assembled: the same format and content
    res = await run(app, f"""
    local key = string.rep("k", 32)
    local parts = {{}}
    for i = 0, 40 * 1024 - 1 do parts[#parts + 1] = string.char((i * 7) % 256) end
    local data = table.concat(parts)
    local c1 = crypto.encrypt.{cipher}(data, key)
    local c2 = crypto.encrypt.{cipher}(data, key, "aad")
    local p2 = crypto.decrypt.{cipher}(c2, key, "aad")
    local _, e = crypto.decrypt.{cipher}(c2, key)
    return {{#c1, crypto.decrypt.{cipher}(c1, key) == data, p2 == data, c1 ~= c2, hex(c2), e:kind()}}
    """)
    data = bytes((i * 7) % 256 for i in range(40 * 1024))
    assert res[:4] == [12 + len(data) + 16, True, True, True]
    blob = bytes.fromhex(res[4])
    assert py(b"k" * 32).decrypt(blob[:12], blob[12:], b"aad") == data
    assert res[5] == "Internal"


async def test_jwt_hs256(app):
    now = int(time.time())
    res = await run(app, f"""
    local token = crypto.jwt.encode({{sub = "user1", exp = {now + 600}, _header = {{kid = "k1"}}}}, "secret")
    local claims = crypto.jwt.verify(token, "secret")
    local _, bad = crypto.jwt.verify(token, "wrong")
    local _, wrong_alg = crypto.jwt.verify(token, "secret", "HS512")
    local old = crypto.jwt.encode({{sub = "x", exp = {now - 10}}}, "secret", "HS384")
    local _, expired = crypto.jwt.verify(old, "secret", "HS384")
    local noexp = crypto.jwt.encode({{sub = "y"}}, "secret")
    local _, missing = crypto.jwt.verify(noexp, "secret")
    local ok = crypto.jwt.verify(noexp, "secret", "HS256", false)
    local _, garbage = crypto.jwt.verify("not-a-token", "secret")
    return {{token, claims.sub, bad:kind(), wrong_alg:kind(), expired:kind(), missing:kind(), ok.sub, garbage:kind()}}
    """)
    token = res[0]
    h, p, s = token.split(".")
    def pad(x: str) -> str:
        return x + "=" * (-len(x) % 4)

    assert json.loads(base64.urlsafe_b64decode(pad(h))) == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    assert base64.urlsafe_b64decode(pad(s)) == hmac.new(b"secret", f"{h}.{p}".encode(), "sha256").digest()
    assert res[1:] == ["user1", "Internal", "Internal", "Internal", "Internal", "y", "Invalid"]


async def test_jwt_rs256(app):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    res = await run(app, """
    local priv, pub = ...
    local token = crypto.jwt.encode({sub = "svc", exp = os.time() + 60}, priv, "RS256")
    local claims = crypto.jwt.verify(token, pub, "RS256")
    local _, e = crypto.jwt.encode({sub = "svc"}, "not a pem", "RS256")
    return {token, claims.sub, e:kind()}
    """, priv, pub)
    h, p, s = res[0].split(".")
    sig = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    key.public_key().verify(sig, f"{h}.{p}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert res[1:] == ["svc", "Invalid"]


async def test_pbkdf2(app):
    res = await run(app, """
    local _, e1 = crypto.pbkdf2("pw", "salt", 0, 32)
    local _, e2 = crypto.pbkdf2("pw", "salt", 1000, 32, "md5")
    return {hex(crypto.pbkdf2("pw", "salt", 1000, 32)), hex(crypto.pbkdf2("pw", "salt", 1000, 64, "sha512")),
            e1:kind(), e2:kind()}
    """)
    assert res == [hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 1000, 32).hex(),
                   hashlib.pbkdf2_hmac("sha512", b"pw", b"salt", 1000, 64).hex(), "Invalid", "Invalid"]


async def test_constant_time_compare(app):
    assert await run(app, """
    return {crypto.constant_time_compare("abc", "abc"), crypto.constant_time_compare("abc", "abd"),
            crypto.constant_time_compare("abc", "ab"), crypto.constant_time_compare("\\255", "\\255")}
    """) == [True, False, False, True]
