"""uuid module: generation, validation, inspection, formatting (google/uuid semantics)."""
from __future__ import annotations

import time
import uuid

import pytest

DNS = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"


async def run(app, body: str, *args):
    return await app.run("local uuid = require('uuid')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["uuid"])


async def test_v4(app):
    res = await run(app, """
    local seen, out = {}, {}
    for i = 1, 200 do
      local id, err = uuid.v4()
      assert(err == nil)
      assert(not seen[id]); seen[id] = true
      out[#out + 1] = id
    end
    return out
    """)
    for s in res:
        u = uuid.UUID(s)
        assert str(u) == s and u.version == 4 and u.variant == uuid.RFC_4122


async def test_v1(app):
    res = await run(app, """
    local a, b = uuid.v1(), uuid.v1()
    local info = uuid.parse(a)
    info.node = #info.node   -- raw node bytes (not UTF-8)
    return {a, b, uuid.version(a), info}
    """)
    a, b, version, info = res
    assert info["node"] == 6
    assert a != b and version == 1
    assert uuid.UUID(a).version == 1
    assert abs(info["timestamp"] - time.time()) < 60
    assert info["version"] == 1 and info["variant"] == "RFC4122"


async def test_v7_is_time_ordered(app):
    res = await run(app, """
    local out = {}
    for i = 1, 500 do out[i] = uuid.v7() end
    return {out, uuid.parse(out[1])}
    """)
    ids, info = res
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for s in ids[:5]:
        assert uuid.UUID(s).version == 7 and uuid.UUID(s).variant == uuid.RFC_4122
    assert abs(info["timestamp"] - time.time()) < 60 and info["version"] == 7


@pytest.mark.parametrize("fn, pyfn", [("v3", uuid.uuid3), ("v5", uuid.uuid5)])
async def test_name_based(app, fn, pyfn):
    res = await run(app, f"return {{uuid.{fn}('{DNS}', 'example.com'), uuid.{fn}('{DNS.upper()}', 'example.com'),"
                         f" uuid.{fn}('{{{DNS}}}', 'héllo')}}")
    assert res[0] == str(pyfn(uuid.NAMESPACE_DNS, "example.com")) == res[1]
    assert res[2] == str(pyfn(uuid.NAMESPACE_DNS, "héllo"))


async def test_name_based_binary_name(app):
    res = await run(app, f"return uuid.v5('{DNS}', '\\255\\0x')")
    assert res == str(uuid.UUID(bytes=bytes(_v5(uuid.NAMESPACE_DNS.bytes + b"\xff\x00x"))))


def _v5(data: bytes) -> bytearray:
    import hashlib
    b = bytearray(hashlib.sha1(data).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50
    b[8] = (b[8] & 0x3F) | 0x80
    return b


@pytest.mark.parametrize("fn", ["v3", "v5"])
async def test_name_based_errors(app, fn):
    res = await run(app, f"""
    local a, ea = uuid.{fn}(nil, "x")
    local b, eb = uuid.{fn}("{DNS}", 5)
    local c, ec = uuid.{fn}("not-a-uuid", "x")
    return {{a == nil, ea:kind(), ea:message(), b == nil, eb:message(), c == nil, ec:kind(), ec:message()}}
    """)
    assert res == [True, "Invalid", "namespace and name must be strings", True, "namespace and name must be strings",
                   True, "Invalid", "invalid namespace UUID"]


@pytest.mark.parametrize("text, valid", [
    ("123e4567-e89b-12d3-a456-426614174000", True),
    ("123E4567-E89B-12D3-A456-426614174000", True),
    ("{123e4567-e89b-12d3-a456-426614174000}", True),
    ("urn:uuid:123e4567-e89b-12d3-a456-426614174000", True),
    ("URN:UUID:123e4567-e89b-12d3-a456-426614174000", True),
    ("123e4567e89b12d3a456426614174000", True),
    ("123e4567-e89b-12d3-a456-42661417400", False),
    ("123e4567-e89b-12d3-a456-4266141740000", False),
    ("123e4567xe89b-12d3-a456-426614174000", False),
    ("g23e4567-e89b-12d3-a456-426614174000", False),
    ("(123e4567-e89b-12d3-a456-426614174000)", False),
    ("", False),
    ("hello", False),
])
async def test_validate(app, text, valid):
    assert await run(app, "local ok, err = uuid.validate(...); assert(err == nil); return ok", text) is valid


async def test_validate_non_string(app):
    assert await run(app, "return {uuid.validate(42), uuid.validate(nil), uuid.validate({}), uuid.validate('\\255')}") \
        == [False, False, False, False]


@pytest.mark.parametrize("text, version, variant", [
    ("123e4567-e89b-12d3-a456-426614174000", 1, "RFC4122"),
    ("f47ac10b-58cc-4372-a567-0e02b2c3d479", 4, "RFC4122"),
    ("00000000-0000-0000-0000-000000000000", 0, "Microsoft"),   # google/uuid Reserved, named as Wippy does
    ("00000000-0000-4000-c000-000000000000", 4, "NCS"),
    ("00000000-0000-4000-e000-000000000000", 4, "NCS"),
])
async def test_version_variant(app, text, version, variant):
    assert await run(app, "local s = ...; return {uuid.version(s), uuid.variant(s)}", text) == [version, variant]


async def test_parse(app):
    res = await run(app, """
    local a = uuid.parse("f47ac10b-58cc-4372-a567-0e02b2c3d479")
    local b = uuid.parse("123e4567-e89b-12d3-a456-426614174000")
    return {a.version, a.variant, a.timestamp == nil, a.node == nil, b.version, b.timestamp, #b.node,
            (b.node:gsub(".", function(c) return string.format("%02x", c:byte()) end))}
    """)
    u = uuid.UUID("123e4567-e89b-12d3-a456-426614174000")
    assert res == [4, "RFC4122", True, True, 1, (u.time - 0x01B21DD213814000) // 10_000_000, 6, "426614174000"]


async def test_format(app):
    src = """
    local id = "123E4567-E89B-12D3-A456-426614174000"
    local bad, err = uuid.format(id, "weird")
    return {uuid.format(id), uuid.format(id, "standard"), uuid.format(id, "simple"), uuid.format(id, "urn"),
            uuid.format("123e4567e89b12d3a456426614174000"), bad == nil, err:kind(), err:message()}
    """
    res = await run(app, src)
    s = "123e4567-e89b-12d3-a456-426614174000"
    assert res == [s, s, s.replace("-", ""), "urn:uuid:" + s, s, True, "Invalid", "unsupported format"]


@pytest.mark.parametrize("fn", ["version", "variant", "parse", "format"])
async def test_inspect_errors(app, fn):
    res = await run(app, f"""
    local a, ea = uuid.{fn}(42)
    local b, eb = uuid.{fn}("nope")
    return {{a == nil, ea:kind(), ea:message(), b == nil, eb:kind(), eb:message()}}
    """)
    assert res == [True, "Invalid", "input must be a string", True, "Invalid", "invalid UUID format"]
