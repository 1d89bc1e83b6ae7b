"""json module: Wippy encode/decode conventions, errors as values, schema validation."""
from __future__ import annotations

import json

import pytest

from wippy import native
from wippy.engine.errors import WippyError


@pytest.fixture(autouse=True, params=["native", "lua"])
def codec(request, monkeypatch):
    """Every test runs on both paths: the native codec (wippy/native/json.c) and json.lua's own."""
    if request.param == "native" and not native.path("json").is_file():
        pytest.skip("the native json codec is not built (scripts/setup.sh builds it)")
    monkeypatch.setattr(native, "enabled", request.param == "native")
    return request.param


async def run(app, body: str, *args):
    return await app.run("local json = require('json')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["json"])


# ------------------------------------------------------------------ encode
@pytest.mark.parametrize("expr, expected", [
    ("nil", "null"),
    ("true", "true"),
    ("false", "false"),
    ("42", "42"),
    ("-7", "-7"),
    ("1.5", "1.5"),
    ("3.0", "3"),             # integral floats are written without a fraction
    ("0.1", "0.1"),
    ("1/0", "null"),          # Inf and NaN become null
    ("0/0", "null"),
    ("'hello'", '"hello"'),
    ("{}", "[]"),             # the empty table is an array
    ("{1, 2, 3}", "[1,2,3]"),
    ("{'a', {}, {x = 1}}", '["a",[],{"x":1}]'),
    ("{b = 1, a = 2, c = {z = true, y = false}}", '{"a":2,"b":1,"c":{"y":false,"z":true}}'),
    ("{[true] = 'yes', b = 'bee', [1.5] = 'half'}", '{"1.5":"half","b":"bee","true":"yes"}'),
    ("{[0] = 'zero'}", '{"0":"zero"}'),
    ("{[-1] = 'neg'}", '{"-1":"neg"}'),
    ("9007199254740993", "9007199254740993"),   # integers stay exact
    ("math.maxinteger", "9223372036854775807"),
    ("'tab\\tnl\\nq\"b\\\\'", '"tab\\tnl\\nq\\"b\\\\"'),
    ("'\\1\\31'", '"\\u0001\\u001f"'),
    ("'héllo wörld ✓ 😀'", '"héllo wörld ✓ 😀"'),
    ("'</script>'", '"</script>"'),
    ("print", "null"),        # functions encode as null (as Wippy does)
])
async def test_encode_values(app, expr, expected):
    assert await run(app, f"local s, err = json.encode({expr}); assert(err == nil, tostring(err)); return s") == expected


async def test_encode_key_order_is_canonical(app):
    src = """
    local want = '{"content":"c","draft_id":"d1","style":"corporate","title":"t","total":3}'
    for i = 1, 32 do
      local got = json.encode({title = "t", draft_id = "d1", total = 3, style = "corporate", content = "c"})
      if got ~= want then return got end
    end
    return "ok"
    """
    assert await run(app, src) == "ok"


async def test_encode_invalid_utf8_is_replaced(app):
    assert await run(app, "return json.encode('a\\255b')") == '"a\ufffdb"'


@pytest.mark.parametrize("expr, fragment", [
    ("{1, nil, 3}", "sparse"),
    ("{[2] = 'x'}", "sparse"),
    ("{[1] = 'a', [5] = 'b'}", "sparse"),
    ("{1, 2, x = 3}", "mixed"),
    ("{[1] = 'a', name = 'b'}", "mixed"),
])
async def test_encode_rejects_sparse_and_mixed(app, expr, fragment):
    kind, msg = await run(app, f"local s, err = json.encode({expr}); assert(s == nil); return {{err:kind(), err:message()}}")
    assert kind == "Invalid" and fragment in msg


async def test_encode_cycle_and_depth(app):
    res = await run(app, """
    local t = {a = {}}
    t.a.back = t
    local s1, e1 = json.encode(t)
    local deep = {}
    local cur = deep
    for i = 1, 200 do cur.x = {}; cur = cur.x end
    local s2, e2 = json.encode(deep)
    local ok = {}
    cur = ok
    for i = 1, 100 do cur[1] = {}; cur = cur[1] end
    local s3, e3 = json.encode(ok)
    -- a shared (non-cyclic) table may appear twice
    local shared = {1}
    local s4 = json.encode({a = shared, b = shared})
    return {s1 == nil, e1:kind(), e1:message(), s2 == nil, e2:message(), s3 ~= nil, s4}
    """)
    assert res[0] is True and res[1] == "Invalid" and "recursively nested" in res[2]
    assert res[3] is True and "depth" in res[4]
    assert res[5] is True
    assert res[6] == '{"a":[1],"b":[1]}'


async def test_encode_special_values(app):
    res = await run(app, """
    local e = errors.new("boom")
    return {json.encode({err = e}), json.encode(payload.new({x = 1}))}
    """)
    assert res == ['{"err":"boom"}', '{"x":1}']


# ------------------------------------------------------------------ decode
async def test_decode_basic(app):
    res = await run(app, """
    local v = json.decode('{"name":"Jane","items":[1,2,3],"nested":{"ok":true},"f":2.5,"i":7,"neg":-3,"e":1e3}')
    return {v.name, v.items[1], v.items[3], #v.items, v.nested.ok, v.f, math.type(v.i), math.type(v.f),
            v.neg, math.type(v.e), v.e}
    """)
    assert res == ["Jane", 1, 3, 3, True, 2.5, "integer", "float", -3, "float", 1000.0]


async def test_decode_null_and_scalars(app):
    res = await run(app, """
    local a, ea = json.decode("null")
    local b = json.decode("  true ")
    local c = json.decode('"x"')
    local d = json.decode("12345678901234567890")
    local o = json.decode('{"a":null,"b":1}')
    local arr = json.decode('[1,null,3]')
    return {a == nil, ea == nil, b, c, math.type(d), o.a == nil, o.b, arr[1], arr[2] == nil, arr[3]}
    """)
    assert res == [True, True, True, "x", "float", True, 1, 1, True, 3]


async def test_decode_strings_and_unicode(app):
    res = await run(app, r"""
    local a = json.decode('"tab\\tnl\\nq\\"bs\\\\sl\\/"')
    local b = json.decode('"\\u00e9\\u4e2d\\ud83d\\ude00"')
    local c = json.decode('"raw é 中 😀"')
    local d = json.decode('"lone \\ud800 x"')
    local e = json.decode('{"k\\u0041y":"v"}')
    return {a, b, c, d, e.kAy}
    """)
    assert res == ["tab\tnl\nq\"bs\\sl/", "é中😀", "raw é 中 😀", "lone \ufffd x", "v"]


@pytest.mark.parametrize("text", [
    "not json", "{", "[1,2", '{"a" 1}', '{"a":1,}', "[1,]", "01", "1.", "-", "1e", ".5",
    "'single'", '{"a":1} x', "tru", '"unterminated', '"ctl\x01"', "[1 2]", "{a:1}", '"\\x"',
    "NaN", "Infinity", "1e400", "-1e999",
])
async def test_decode_invalid_json(app, text):
    res = await run(app, "local v, err = json.decode(...); return {v == nil, err and err:kind(), err and err:message()}", text)
    assert res[0] is True and res[1] == "Invalid", res
    assert res[2]


async def test_decode_bad_input_types(app):
    res = await run(app, """
    local a, ea = json.decode({})
    local b, eb = json.decode("")
    local c, ec = json.decode(nil)
    return {a == nil, ea:kind(), b == nil, eb:kind(), eb:message(), c == nil, ec:kind()}
    """)
    assert res == [True, "Invalid", True, "Invalid", "empty string is not valid JSON", True, "Invalid"]


async def test_decode_invalid_utf8_is_error(app):
    res = await run(app, "local v, err = json.decode('\"a\\255\"'); return {v == nil, err:kind()}")
    assert res == [True, "Invalid"]


async def test_decode_depth_limit(app):
    res = await run(app, """
    local ok = json.decode(string.rep("[", 100) .. string.rep("]", 100))
    local bad, err = json.decode(string.rep("[", 200) .. string.rep("]", 200))
    return {ok ~= nil, bad == nil, err:kind()}
    """)
    assert res == [True, True, "Invalid"]


async def test_roundtrip_matches_python(app):
    doc = {"zeta": 1, "alpha": {"yankee": True, "bravo": [{"delta": "d", "charlie": "c"}], "xray": None},
           "mike": "m", "echo": 2.5, "uni": "ünï\u2028", "big": 2 ** 53 + 1, "neg": -0.25, "empty": []}
    text = json.dumps(doc)
    out = await run(app, "return json.encode(json.decode(...))", text)
    expected = {k: v for k, v in doc.items()}
    expected["alpha"] = {"yankee": True, "bravo": [{"delta": "d", "charlie": "c"}]}  # null members vanish
    assert json.loads(out) == expected
    assert out.startswith('{"alpha":{"bravo":[{"charlie":"c","delta":"d"}],"yankee":true},"big":')


async def test_decoded_tables_are_plain_and_mutable(app):
    assert await run(app, "local t = json.decode('{\"a\":[1]}'); t.b = 2; table.insert(t.a, 5); return json.encode(t)") \
        == '{"a":[1,5],"b":2}'


async def test_module_is_read_only(app):
    with pytest.raises(WippyError):
        await run(app, "json.encode = nil")


# ------------------------------------------------------------------ schema validation
SCHEMA = """
local schema = {
  type = "object",
  properties = {
    name = {type = "string", minLength = 2, maxLength = 10, pattern = "^[A-Z]"},
    age = {type = "integer", minimum = 0, maximum = 150},
    email = {type = "string"},
    role = {enum = {"admin", "user"}},
    tags = {type = "array", items = {type = "string"}, minItems = 1},
  },
  required = {"name"},
  additionalProperties = false,
}
"""


@pytest.mark.parametrize("data, valid", [
    ("{name = 'John', age = 30}", True),
    ("{name = 'John', age = 30.0}", True),
    ("{name = 'John', role = 'admin', tags = {'a'}}", True),
    ("{age = 30}", False),                          # required
    ("{name = 'john'}", False),                     # pattern
    ("{name = 'J'}", False),                        # minLength
    ("{name = 'Johnathan Smith'}", False),          # maxLength
    ("{name = 'John', age = -1}", False),           # minimum
    ("{name = 'John', age = 1.5}", False),          # integer
    ("{name = 'John', role = 'root'}", False),      # enum
    ("{name = 'John', tags = {1}}", False),         # items
    ("{name = 'John', tags = {}}", False),          # minItems
    ("{name = 'John', extra = 1}", False),          # additionalProperties
    ("{1, 2}", False),                              # type
])
async def test_validate(app, data, valid):
    res = await run(app, SCHEMA + f"local ok, err = json.validate(schema, {data}); return {{ok, err and err:kind(), err and err:message()}}")
    assert res[0] is valid, res
    if not valid:
        assert res[1] == "Invalid" and res[2].startswith("validation failed")


async def test_validate_string_and_schema_text(app):
    res = await run(app, SCHEMA + """
    local a = json.validate_string(schema, '{"name":"Jane","age":25}')
    local b, eb = json.validate_string(schema, '{"age":25}')
    local c, ec = json.validate_string(schema, 'not json')
    local d = json.validate('{"type":"number","maximum":5}', 3)
    local e = json.validate('{"type":"number","maximum":5}', 7)
    return {a, b, eb:kind(), c, ec:kind(), d, e}
    """)
    assert res == [True, False, "Invalid", False, "Invalid", True, False]


async def test_validate_bad_arguments(app):
    res = await run(app, """
    local a, ea = json.validate(nil, {name = "x"})
    local b, eb = json.validate({type = "object"}, nil)
    local c, ec = json.validate(42, {})
    local d, ed = json.validate('{"type": "nope"}', 1)
    local e, ee = json.validate('{bad json', 1)
    local f, ef = json.validate_string({type = "object"}, 5)
    return {a, ea:kind(), b, eb:kind(), c, ec:kind(), d, ed:kind(), e, ee:kind(), f, ef:kind()}
    """)
    assert res == [False, "Invalid"] * 6


async def test_validate_empty_table_is_an_object_too(app):
    res = await run(app, """
    return {json.validate({type = "object"}, {}), json.validate({type = "array"}, {}),
            json.validate({type = "object", properties = {}}, {a = 1}),
            (json.validate({type = "object", required = {"a"}}, {}))}
    """)
    assert res == [True, True, True, False]


async def test_validate_composition_and_refs(app):
    res = await run(app, """
    local schema = {
      ["$defs"] = {pos = {type = "integer", exclusiveMinimum = 0}},
      type = "object",
      properties = {
        id = {["$ref"] = "#/$defs/pos"},
        v = {anyOf = {{type = "string"}, {type = "number"}}},
        one = {oneOf = {{type = "integer"}, {type = "number", minimum = 10}}},
        no = {["not"] = {type = "null"}},
      },
    }
    local out = {}
    for _, d in ipairs({{id = 1}, {id = 0}, {v = "s"}, {v = true}, {one = 3}, {one = 12}, {one = 2.5}}) do
      out[#out + 1] = (json.validate(schema, d))
    end
    return out
    """)
    assert res == [True, False, True, False, True, False, False]


def _random_doc(rng, depth=0):
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice([True, False, None])
    if kind == 1:
        return rng.randrange(-2 ** 62, 2 ** 62)
    if kind == 2:
        return rng.choice([0.5, -1.25, 1e-7, 3.141592653589793, 1.7976931348623157e308, 2.5e-308, 123456.789])
    if kind in (3, 4):
        alphabet = "abc xyz\"\\/\n\t\x01é中😀\u2028<>&"
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
    if kind == 5:
        return [_random_doc(rng, depth + 1) for _ in range(rng.randrange(5))]
    return {"".join(rng.choice("abkéy_\"\\") for _ in range(rng.randrange(1, 6))): _random_doc(rng, depth + 1)
            for _ in range(rng.randrange(5))}


def _lua_view(v):
    """What a JSON value looks like after a trip through Lua: null members vanish, {} is []."""
    if isinstance(v, dict):
        d = {k: _lua_view(x) for k, x in v.items() if x is not None}
        return d if d else []
    if isinstance(v, list):
        return [_lua_view(x) for x in v]
    return v


async def test_random_documents_round_trip(app):
    import random
    rng = random.Random(1234)
    docs = []
    for _ in range(300):
        d = _random_doc(rng)
        # arrays with nulls are sparse once in Lua; keep them out of this test
        text = json.dumps(d, ensure_ascii=rng.random() < 0.5)
        if "null" in json.dumps(_strip_members(d)):
            continue
        docs.append(text)
    out = await run(app, """
    local docs = json.decode(...)
    local res = {}
    for i, text in ipairs(docs) do
      local v, err = json.decode(text)
      if err then res[i] = "ERR " .. err:message()
      else res[i] = assert(json.encode(v)) end
    end
    return res
    """, json.dumps(docs))
    for text, got in zip(docs, out):
        assert not got.startswith("ERR"), (text, got)
        assert json.loads(got) == _lua_view(json.loads(text)), (text, got)
        # canonical: sorted keys, compact
        assert got == json.dumps(json.loads(got), sort_keys=True, separators=(",", ":"), ensure_ascii=False), got


def _strip_members(v):
    if isinstance(v, dict):
        return {k: _strip_members(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_strip_members(x) for x in v]
    return v


async def test_validate_string_deeply_nested_input(app):
    res = await run(app, """
    local ok, err = json.validate_string({type = "array"}, string.rep("[", 100000) .. string.rep("]", 100000))
    local d, derr = json.decode(42)
    return {ok, err:kind(), d == nil, derr:message()}
    """)
    assert res == [False, "Invalid", True, "string expected"]


async def test_budget_kill_is_not_swallowed(make_app):
    # a task over its instruction budget dies even when the budget runs out inside json
    app = make_app(max_instructions=200_000)
    with pytest.raises(WippyError) as exc:
        await app.run("""
        local json = require("json")
        return function()
          local big = {}
          for i = 1, 2000 do big[i] = {id = i, name = "n" .. i, tags = {"a", "b"}} end
          while true do
            local s, err = json.encode(big)
            if not s then return "swallowed: " .. tostring(err) end
            local v, derr = json.decode(s)
            if derr then return "swallowed: " .. tostring(derr) end
          end
        end
        """, modules=["json"])
    assert exc.value.kind == "LimitExceeded"


# json runs its loops with the count hook off (calling it itself): user code reached from inside
# an encode, and code after one, must still be under the budget
@pytest.mark.parametrize("body", [
    "json.encode({1, setmetatable({}, {__len = function() while true do end end})})",
    "json.encode({a = {errors.new({message = setmetatable({}, {__tostring = function() while true do end end})})}})",
    "json.encode({1, 2, 3}); json.decode(string.rep(' ', 600) .. '[1]'); while true do end",
    "local ok = pcall(json.encode, {setmetatable({}, {__len = function() error('x') end})}); while true do end",
])
async def test_budget_still_holds_around_and_inside_encode(make_app, body):
    app = make_app(max_instructions=200_000)
    with pytest.raises(WippyError) as exc:
        await app.run(f"local json = require('json')\nreturn function() {body} end", modules=["json"])
    assert exc.value.kind == "LimitExceeded"


async def test_encode_with_metamethods_and_specials_is_unchanged(app):
    res = await run(app, """
    local t = setmetatable({10, 20}, {__len = function() return 2 end, __index = function() return 0 end})
    local e = errors.new({message = "boom", kind = errors.NOT_FOUND})
    return {json.encode({t, {x = e}}), json.encode(setmetatable({b = 1, a = 2}, {}))}
    """)
    assert res == ['[[10,20],{"x":"boom"}]', '{"a":2,"b":1}']


# ------------------------------------------------------------------ the fast decoder (512 bytes to 2 MB)
SAME_AS_LUA = r"""
local function same(a, b, path)
  if type(a) ~= type(b) then return path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) ~= "table" then
    if a ~= b and not (a ~= a and b ~= b) then return path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    if math.type(a) ~= math.type(b) then return path .. ": " .. math.type(a) .. " vs " .. math.type(b) end
    return nil
  end
  for k, v in pairs(a) do
    local d = same(v, b[k], path .. "." .. tostring(k))
    if d then return d end
  end
  for k in pairs(b) do if a[k] == nil then return path .. "." .. tostring(k) .. ": missing" end end
  return nil
end
local pad = string.rep(" ", 600)
local out = {}
for i, text in ipairs(...) do
  assert(#text < 512, "case too long for the Lua decoder: " .. i)
  local small, serr = json.decode(text)
  local big, berr = json.decode(text .. pad)           -- decoded by the fast path when it can
  if (serr == nil) ~= (berr == nil) then out[i] = "error on one side only: " .. tostring(serr or berr)
  elseif serr then out[i] = serr:message() == berr:message() and "ok" or (serr:message() .. " | " .. berr:message())
  else out[i] = same(small, big, "$") or "ok" end
end
return out
"""


async def test_fast_decoder_reads_as_the_lua_decoder(app):
    import random
    rng = random.Random(99)
    cases = ['{"a":null,"b":1}', '[1,null,3]', '[null]', '{"a":1,"a":null}', '{"a":null,"a":2}',
             '[12345678901234567890, -9223372036854775808, 9223372036854775807, 9223372036854775808]',
             '[1e400]', '[-1e999]', '[1e308, 2.5e-308, 1E2, -0, -0.0, 0.5e1]', '[NaN]', '[Infinity]',
             '{"s":"lone \\ud800 x","\\udc00k":1}', '["\\u00e9\\ud83d\\ude00\\/"]', '{"k\\u0041y":[]}',
             "[" * 128 + "]" * 128, "[" * 129 + "]" * 129, '[1,2}', '{"a" 1}', '[1,]', '[01]', '{"a":1} x', '["ctl\x01"]',
             '[tru]', '{"a":[1,{"b":"\\x"}]}', '{}', '[]', '[[], {}, [{}]]', '[1.0, 2.50, 3]']
    while len(cases) < 200:
        d = _random_doc(rng)
        if isinstance(d, (dict, list)):
            text = json.dumps(d, ensure_ascii=rng.random() < 0.5)
            if len(text) < 512:
                cases.append(text)
    out = await run(app, SAME_AS_LUA, cases)
    bad = [(c, o) for c, o in zip(cases, out) if o != "ok"]
    assert not bad, bad[:5]


async def test_fast_decoder_large_document(app):
    doc = [{"id": i, "name": f"user {i}", "score": i * 1.5, "tags": ["a", None, "c"] if i % 7 else [],
            "meta": {"deep": {"deeper": [i, {"x": None}]}}} for i in range(3000)]
    text = json.dumps(doc)
    assert 512 < len(text) < 2 << 20
    res = await run(app, """
    local v, err = json.decode(...)
    assert(err == nil, tostring(err))
    return {#v, v[8].name, math.type(v[8].score), v[9].tags[2] == nil, v[9].tags[3], #v[8].tags,
            v[3000].meta.deep.deeper[1], next(v[1].meta.deep.deeper[2]) == nil}
    """, text)
    assert res == [3000, "user 7", "float", True, "c", 0, 2999, True]


async def test_encoding_huge_tables_is_preempted_not_ended(make_app):
    # json.lua's walks over a table's keys (the array check, an object's keys, their sort, the
    # cycle check past MAX_DEPTH) take longer than a slice: each yields when preempted, so
    # the process gets its answer instead of being ended by the slice limit
    app = make_app(max_memory=512 * 1024 * 1024)   # the default slice_timeout (0.1s)
    res = await app.run("""
    local json = require("json")
    return function()
      local arr = {}
      for i = 1, 1500000 do arr[i] = i end
      arr.x = 1
      local _, mixed = json.encode(arr)
      arr.x, arr[1500000] = nil, nil
      arr[1499998] = nil
      local _, sparse = json.encode(arr)
      local obj = {}
      for i = 1, 100000 do obj["k" .. i] = i end
      local text = assert(json.encode(obj))
      local dag = {}
      for _ = 1, 200 do dag = {dag, dag} end
      local _, deep = json.encode(dag)
      return {tostring(mixed), tostring(sparse), #text, text:sub(1, 20), tostring(deep)}
    end
    """, modules=["json"])
    assert res[0] == "cannot encode mixed-key table: table has both numeric and non-numeric keys"
    assert res[1] == "cannot encode sparse array: non-contiguous numeric keys found"
    assert res[2] == len(json.dumps({f"k{i}": i for i in range(1, 100001)}, separators=(",", ":")))
    assert res[3] == '{"k1":1,"k10":10,"k1'
    assert res[4] == "exceeded maximum nesting depth for JSON encoding"   # a DAG, not a cycle


async def test_decode_uses_the_lua_decoder_when_the_heap_is_short(make_app):
    # a document whose tables may not fit under max_memory is decoded in Lua, where running out
    # of memory ends the process with the memory error instead of failing outside any task
    app = make_app(max_memory=24 * 1024 * 1024)   # (a long decode is preempted, not ended)
    text = json.dumps([{"n": i, "s": "x" * 20} for i in range(40000)])   # ~1.4 MB
    res = await app.run("""
    local json = require("json")
    return function(text)
      local v, err = json.decode(text)
      return {err == nil, v and #v}
    end
    """, text, modules=["json"])
    assert res == [True, 40000]
