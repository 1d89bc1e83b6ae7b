"""The native json codec (wippy/native/json.c) gives exactly what json.lua's own codec gives."""
from __future__ import annotations

import json
import random

import pytest

from tests.engine.conftest import LuaApp
from tests.modules.test_json import _random_doc
from wippy import native
from wippy.engine.errors import WippyError

pytestmark = pytest.mark.skipif(not native.path("json").is_file(),
                                reason="the native json codec is not built (scripts/setup.sh builds it)")

# a decoded value as text: types (integer/float), #t, and every key, sorted
DUMP = r"""
local function dump(v)
  if type(v) ~= "table" then
    if type(v) == "number" then return math.type(v) .. ":" .. string.format("%.17g", v) end
    return type(v) .. ":" .. tostring(v)
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return type(a) .. tostring(a) < type(b) .. tostring(b) end)
  local out = {"#" .. #v}
  for _, k in ipairs(keys) do out[#out + 1] = dump(k) .. "=" .. dump(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end
"""

DECODE = DUMP + """
local out = {}
for i, text in ipairs(...) do
  local v, err = json.decode(text)
  out[i] = err and ("ERR " .. err:kind() .. " " .. err:message()) or dump(v)
end
return out
"""

ENCODE = """
local out = {}
for i, f in ipairs(cases) do
  local s, err = json.encode(f())
  out[i] = err and ("ERR " .. err:kind() .. " " .. err:message()) or s
end
return out
"""

ENCODE_CASES = [
    "{}", "{{}, {{}}, {a = {}}}", "{1, 2.5, -0.0, 0.1, 1e300, 5e-324, 2^63, -2^63, 1e15 + 0.5, 1/0, -1/0, 0/0}",
    "{math.maxinteger, math.mininteger, 9007199254740993, 3.0, 123456.789, 1/3}",
    "{s = 'tab\\tnl\\nq\"b\\\\ \\1\\31\\127 </script>'}", "{['k\\n\"ey'] = 1, ['é'] = 'ü', ['😀'] = {true, false}}",
    "{'a\\255b'}", "{['a\\200'] = 1}", "{'\\237\\160\\128'}", "{'\\244\\144\\128\\128'}", "{'\\192\\128'}",
    "{'\\0nul'}", "{['\\0'] = 1, ['\\0a'] = 2, [''] = 3, a = 4, ['a\\0'] = 5, b = 6}",
    "{1, nil, 3}", "{[2] = 'x'}", "{1, 2, x = 3}", "{[1] = 'a', name = 'b'}", "{[true] = 'yes', b = 'bee', [1.5] = 'h'}",
    "{[0] = 'z'}", "{[-1] = 'n'}", "{print, coroutine.create(print)}", "{a = print}",
    "setmetatable({b = 1, a = 2}, {})", "{errors.new('boom')}", "{payload.new({x = 1})}",
    "(function() local t = {a = {}} t.a.back = t return t end)()",
    "(function() local d = {} local c = d for i = 1, 127 do c[1] = {} c = c[1] end return d end)()",
    "(function() local d = {} local c = d for i = 1, 128 do c[1] = {} c = c[1] end return d end)()",
    "(function() local d = {} local c = d for i = 1, 129 do c.x = {} c = c.x end return d end)()",
    "(function() local t = {} for i = 1, 100 do t['k' .. i] = i end return t end)()",
    "(function() local t = {} for i = 1, 3000 do t[i] = {id = i, name = 'n' .. i, f = i / 7} end return t end)()",
    "{string.rep('\\n', 40000), string.rep('x', 300000)}",
]


async def _both(source: str, *args, **opts):
    out = []
    for enabled in (True, False):
        native.enabled = enabled
        try:
            out.append(await LuaApp(**opts).run(source, *args, modules=["json"]))
        finally:
            native.enabled = True
    return out


async def test_decode_matches_the_lua_codec():
    rng = random.Random(7)
    cases = ['{"a":null,"b":1}', '[1,null,3]', '[null]', '[null,null,1]', '{"a":1,"a":null}', '{"a":null,"a":2}',
             '[12345678901234567890, -9223372036854775808, 9223372036854775807, 9223372036854775808]',
             '[1e400]', '[-1e999]', '[1e308, 2.5e-308, 1E2, -0, -0.0, 0.5e1, 5e-324, 1e-400]', '[NaN]', '[Infinity]',
             '[' + '9' * 70 + ']', '[-]', '[1.]', '[1e]', '[.5]', '[+1]', '[0x10]',
             '{"s":"lone \\ud800 x","\\udc00k":1}', '["\\ud800\\udc00", "\\ud800\\ud800\\udc00", "\\udbff\\udfff"]',
             '["\\u00e9\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\"\\\\"]', '{"k\\u0041y":[]}', '["\\u0000", "a\\u0000b"]',
             "[" * 128 + "]" * 128, "[" * 129 + "]" * 129, '{"a":' * 128 + '1' + '}' * 128,
             '[1,2}', '{"a" 1}', '[1,]', '{"a":1,}', '[01]', '{"a":1} x', '["ctl\x01"]', '["tab\tin"]', '[tru]',
             '{"a":[1,{"b":"\\x"}]}', '["\\u12"]', '["\\u12g4"]', '{}', '[]', '[[], {}, [{}]]', '[1.0, 2.50, 3]',
             '1', '-7', '1.5', '"x"', ' null ', 'true', 'false', '  ', '"unterminated', '{"a":1', '[1', '{',
             '["\xc3\xa9", "\xe2\x9c\x93"]', '{"k": 1 , "l" :2 }\n', '\t[ 1 ,\r\n 2 ]']
    while len(cases) < 300:
        d = _random_doc(rng)
        cases.append(json.dumps(d, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])))
    bad_utf8 = ['["a\xffb"]', '{"\xc0\x80":1}', '["\xed\xa0\x80"]', '["\xf4\x90\x80\x80"]', '[1]\xff']
    texts = [c.encode() for c in cases] + [c.encode("latin-1") for c in bad_utf8]
    got, want = await _both("local json = require('json')\nreturn function(...)\n" + DECODE + "\nend", texts)
    diff = [(t, g, w) for t, g, w in zip(texts, got, want) if g != w]
    assert not diff, "\n".join(f"{t[:80]!r}: native {g[:300]!r}, Lua {w[:300]!r}" for t, g, w in diff[:5])


async def test_encode_matches_the_lua_codec():
    src = "local json = require('json')\nlocal cases = {" + ",".join(
        f"function() return {c} end" for c in ENCODE_CASES) + "}\nreturn function()\n" + ENCODE + "\nend"
    got, want = await _both(src)
    diff = [(c, g[:200], w[:200]) for c, g, w in zip(ENCODE_CASES, got, want) if g != w]
    assert not diff, diff[:5]
    assert got[0] == "[]" and got[-1].startswith('["\\n\\n')


async def test_documents_past_the_native_bound_are_left_to_the_lua_codec():
    # over 2 MB in or out: json.lua's own (preemptible) codec, same results
    src = """
    local json = require("json")
    return function(text)
      local t = {}
      for i = 1, 70000 do t[i] = {id = i, name = "user " .. i} end
      local s = assert(json.encode(t))
      local v = assert(json.decode(text))
      return {#s, s:sub(-40), #v, v[#v].s}
    end"""
    text = json.dumps([{"n": i, "s": "x" * 20} for i in range(80000)])
    assert len(text) > 2 << 20
    got, want = await _both(src, text)
    assert got == want and got[0] > 2 << 20 and got[2] == 80000


async def test_native_decode_allocates_in_the_lua_heap():
    # the tables count against the host's max_memory (4 MB; the allocator's hard cap is 32 MB
    # above it): past max_memory the process ends, as with json.lua's decoder; past the hard cap
    # the allocation fails inside the decode, which returns the error
    src = "local json = require('json')\nreturn function(t) local v, err = json.decode(t) return tostring(err) end"
    with pytest.raises(WippyError) as exc:
        await LuaApp(max_memory=4 << 20).run(src, "[" + ",".join(["[]"] * 150000) + "]", modules=["json"])
    assert exc.value.kind == "LimitExceeded" and "memory limit" in exc.value.message
    text = "[" + ",".join(["[[]]"] * 400000) + "]"        # 800,000 tables, ~45 MB
    assert await LuaApp(max_memory=4 << 20).run(src, text, modules=["json"]) == "decode failed: not enough memory"
