"""yaml module: encode/decode with Wippy's conventions and errors."""
from __future__ import annotations

import yaml as pyyaml

import pytest


async def run(app, body: str, *args):
    return await app.run("local yaml = require('yaml')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["yaml"])


async def test_encode_map_and_list(app):
    text = await run(app, "return yaml.encode({name = 'test', value = 123, items = {1, 2, 3}, nested = {a = {b = true}}})")
    assert pyyaml.safe_load(text) == {"name": "test", "value": 123, "items": [1, 2, 3], "nested": {"a": {"b": True}}}
    assert text.startswith("items:\n")      # keys sorted
    assert await run(app, "return yaml.encode({1, 2, 3})") == "- 1\n- 2\n- 3\n"
    assert await run(app, "return yaml.encode({name = 'test', value = 123})") == "name: test\nvalue: 123\n"


async def test_encode_strings(app):
    text = await run(app, "return yaml.encode({s = 'multi\\nline', u = 'héllo ✓', y = 'yes', n = '123'})")
    assert pyyaml.safe_load(text) == {"s": "multi\nline", "u": "héllo ✓", "y": "yes", "n": "123"}
    assert "héllo ✓" in text and "|" in text


@pytest.mark.parametrize("expr", ["123", "'str'", "nil", "true"])
async def test_encode_requires_table(app, expr):
    res = await run(app, f"local v, err = yaml.encode({expr}); return {{v == nil, err:kind(), err:message()}}")
    assert res == [True, "Invalid", "table expected"]


async def test_encode_errors(app):
    res = await run(app, """
    local t = {}; t.self = t
    local a, ea = yaml.encode(t)
    local b, eb = yaml.encode({1, nil, 3})
    return {a == nil, ea:kind(), b == nil, eb:kind()}
    """)
    assert res == [True, "Invalid", True, "Invalid"]


async def test_decode(app):
    res = await run(app, """
    local v = yaml.decode("name: test\\nvalue: 123\\nf: 1.5\\nlist:\\n  - a\\n  - b\\nparent:\\n  child:\\n    value: 7\\nflag: true\\nnothing: null\\n")
    return {v.name, v.value, math.type(v.value), v.f, v.list[1], v.list[2], v.parent.child.value, v.flag, v.nothing == nil}
    """)
    assert res == ["test", 123, "integer", 1.5, "a", "b", 7, True, True]


async def test_decode_yaml12_scalars(app):
    res = await run(app, """
    local v = yaml.decode("a: yes\\nb: off\\nc: 2024-01-15\\nd: 2024-01-15T10:00:00Z\\ne: 1e3\\nf: True\\ng: '42'\\n")
    return {v.a, v.b, v.c, v.d, v.e, v.f, v.g}
    """)
    assert res == ["yes", "off", "2024-01-15", "2024-01-15T10:00:00Z", 1000.0, True, "42"]


async def test_decode_scalars_and_comments(app):
    assert await run(app, "return yaml.decode('42')") == 42
    assert await run(app, "return yaml.decode('- 1\\n- two')") == [1, "two"]
    assert await run(app, "local v, err = yaml.decode('# only a comment'); return {v == nil, err == nil}") == [True, True]
    # first document only
    assert await run(app, "return yaml.decode('a: 1\\n---\\nb: 2\\n')") == {"a": 1}


async def test_decode_non_string_keys(app):
    res = await run(app, "local v = yaml.decode('1: one\\n2: two\\nx: 3\\n'); return {v[1], v[2], v.x}")
    assert res == ["one", "two", 3]


async def test_round_trip(app):
    res = await run(app, """
    local original = {name = "test", items = {1, 2, 3}, nested = {deep = {list = {"a", {b = 1}}}}}
    local decoded = yaml.decode(yaml.encode(original))
    return {decoded.name, decoded.items[3], decoded.nested.deep.list[2].b}
    """)
    assert res == ["test", 3, 1]


@pytest.mark.parametrize("text", [":\n  :\n  invalid", "a: [1, 2", "key: 'unterminated", "\t- bad indent", "a: b: c"])
async def test_decode_invalid(app, text):
    res = await run(app, "local v, err = yaml.decode(...); return {v == nil, err:kind(), err:message()}", text)
    assert res[0] is True and res[1] == "Internal" and res[2].startswith("decode failed"), res


async def test_decode_bad_input(app):
    res = await run(app, """
    local a, ea = yaml.decode(123)
    local b, eb = yaml.decode("")
    local c, ec = yaml.decode("a: \\255")
    return {a == nil, ea:kind(), ea:message(), b == nil, eb:kind(), eb:message(), c == nil, ec:kind()}
    """)
    assert res == [True, "Invalid", "string expected", True, "Invalid", "input cannot be empty", True, "Invalid"]


async def test_alias_bomb_is_bounded(app):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for name in "bcdefgh":
        bomb += f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        prev = name
    res = await run(app, "local v, err = yaml.decode(...); return {v == nil, err and err:kind()}", bomb)
    assert res == [True, "Internal"]


async def test_encode_field_order(app):
    res = await app.run("""local yaml = require("yaml")
    return function()
      local entry = {zebra = 1, alpha = 2, name = "test", kind = "demo", nested = {z = 1, name = "n"}}
      local ordered = yaml.encode(entry, {field_order = {"name", "kind"}, sort_unordered = true})
      local sorted = yaml.encode({b = 1, a = 2}, {sort_unordered = true})
      local _, e1 = yaml.encode(entry, {order = {}})
      local _, e2 = yaml.encode(entry, {field_order = {1}})
      return {ordered, sorted, e1:kind(), e2:kind()}
    end""", modules=["yaml"])
    assert res == ["name: test\nkind: demo\nalpha: 2\nnested:\n  name: n\n  z: 1\nzebra: 1\n", "a: 2\nb: 1\n",
                   "Invalid", "Invalid"]
