-- The `json` module: encode/decode in Lua, JSON Schema validation through the Python part.
--
-- The native codec (wippy/native/json.c) encodes and decodes the common case when it is built;
-- without it, documents from 512 bytes to 2 MB decode through Python's C decoder (json.py) when
-- the result is the same.
-- Wippy conventions (runtime/lua/modules/json): objects are written with their keys in
-- ascending byte order; the empty table is `[]`; sparse arrays, tables mixing positive
-- integer keys with other keys, cycles and nesting deeper than 128 are errors; integers
-- stay integers, integral floats are written without a fraction; NaN/Inf become null;
-- invalid UTF-8 in strings is replaced by U+FFFD on encode and rejected on decode;
-- `decode("null")` is nil; object members whose value is null are absent.
local S, P, py = ...

local type, pairs, next, tostring, tonumber, select, getmetatable, pcall, error, rawget =
  type, pairs, next, tostring, tonumber, select, getmetatable, pcall, error, rawget
local byte, char, find, sub, gsub, format, rep = string.byte, string.char, string.find, string.sub,
  string.gsub, string.format, string.rep
local concat, sort = table.concat, table.sort
local mtype, tointeger, huge, floor = math.type, math.tointeger, math.huge, math.floor
local utf8len, utf8char = utf8.len, utf8.char
local new_error = S.new_error

local MAX_DEPTH = 128

-- a task killed (budget exceeded, cancelled) while inside our pcall must still die
local KILL = S.KILL
local function reraise_kill(e)
  local task = S.current()
  if e == KILL or (task and task.dead) then error(KILL, 0) end
end

---------------------------------------------------------------------------
-- encoding
---------------------------------------------------------------------------
local ESC = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f", ["\n"] = "\\n",
  ["\r"] = "\\r", ["\t"] = "\\t",
}
for i = 0, 31 do
  local c = char(i)
  if not ESC[c] then ESC[c] = format("\\u%04x", i) end
end

-- replace every byte that is not part of valid UTF-8 with U+FFFD (as Go does)
local function fix_utf8(s)
  local out, n, pos = {}, 0, 1
  while true do
    local ok, bad = utf8len(s, pos)
    if ok then n = n + 1; out[n] = sub(s, pos) break end
    n = n + 1; out[n] = sub(s, pos, bad - 1)
    n = n + 1; out[n] = "\239\191\189"
    pos = bad + 1
    if pos > #s then break end
  end
  return concat(out)
end

-- Small caches: object keys and short values repeat across calls, and a table lookup is
-- an order of magnitude cheaper than a pattern scan. Bounded by resetting when full.
local CACHE_MAX = 4096
local QCACHE, qcount = {}, 0          -- string -> quoted JSON text
local KFIRST, KNEXT, kcount = {}, {}, 0   -- key -> '"key":' / ',"key":'
local ITXT = {}                       -- small integers -> text

local function quote_slow(s)
  if find(s, "[\128-\255]") and not utf8len(s) then s = fix_utf8(s) end
  if find(s, '[%z\1-\31"\\]') then s = gsub(s, '[%z\1-\31"\\]', ESC) end
  return '"' .. s .. '"'
end

local UNSAFE = '[%z\1-\31"\\\128-\255]'    -- bytes that may need escaping or checking

local function quote(s)
  local q = QCACHE[s]
  if q then return q end
  if find(s, UNSAFE) then q = quote_slow(s) else q = '"' .. s .. '"' end
  if #s <= 64 then
    if qcount >= CACHE_MAX then QCACHE, qcount = {}, 0 end
    qcount = qcount + 1
    QCACHE[s] = q
  end
  return q
end

local function key_prefix(k, first)
  local q = first and KFIRST[k] or KNEXT[k]
  if q then return q end
  if kcount >= CACHE_MAX then KFIRST, KNEXT, kcount = {}, {}, 0 end
  kcount = kcount + 1
  local base = quote(k) .. ":"
  KFIRST[k], KNEXT[k] = base, "," .. base
  return first and base or KNEXT[k]
end

local function int_text(v)
  local s = ITXT[v]
  if s then return s end
  s = format("%d", v)
  if v >= -1024 and v <= 65536 then ITXT[v] = s end
  return s
end

-- shortest decimal text that reads back as the same float
local function float_text(f)
  if f ~= f or f == huge or f == -huge then return "null" end
  if f == floor(f) and f >= -9.2233720368547758e18 and f < 9.2233720368547758e18 then
    return int_text(tointeger(f))
  end
  local s = format("%.15g", f)
  if tonumber(s) ~= f then
    s = format("%.16g", f)
    if tonumber(s) ~= f then s = format("%.17g", f) end
  end
  return s
end

local function key_text(k)
  local tk = type(k)
  if tk == "string" then return k end
  if tk == "number" then
    if mtype(k) == "integer" then return format("%d", k) end
    return float_text(k)
  end
  if tk == "boolean" then return k and "true" or "false" end
  return nil
end

local E_CYCLE = "cannot encode recursively nested tables to JSON"
local E_SPARSE = "cannot encode sparse array: non-contiguous numeric keys found"
local E_MIXED = "cannot encode mixed-key table: table has both numeric and non-numeric keys"
local E_DEPTH = "exceeded maximum nesting depth for JSON encoding"

local TIME, DURATION, ERR, PAYLOAD, CH = S.TIME, S.DURATION, S.ERR, S.PAYLOAD, S.CH

-- Encoder and decoder state lives in upvalues; failures are raised with the FAIL marker and
-- turned into `nil, err` by encode_to_string and decode_string_value. A long encode or decode
-- is preempted at its loops like any Lua code (S.YIELD): another process may encode or decode
-- meanwhile, so the state is saved around the yield.
local FAIL = {}
local buf, n
local str    -- the text being decoded
local YIELD = S.YIELD

-- A count hook (core.lua's budget_hook) makes the VM trace every instruction, about a third of
-- the encoder's time. Encoding and decoding run with the hook off and call it themselves every
-- STEP values, so budgets, preemption and kills work as before; a table with a metatable (its
-- metamethods are user code) is encoded with the hook back on.
local gethook, sethook = debug.gethook, debug.sethook
local STEP = 200    -- values; about 50 VM instructions each, so a call stands for the hook's 10000
local steps = STEP
local hook_fn, hook_mask, hook_count, hook_off = nil, nil, nil, false

local function pause()
  local b, k, s, f, m, c, off = buf, n, str, hook_fn, hook_mask, hook_count, hook_off
  YIELD.y()
  buf, n, str, hook_fn, hook_mask, hook_count, hook_off = b, k, s, f, m, c, off
end

local function tick()
  steps = STEP
  if hook_off then hook_fn("count") end
  if YIELD.f then pause() end
end

-- pcall(fn, a, b) with the count hook off
local function unhooked(fn, a, b)
  local sf, sm, sc, soff = hook_fn, hook_mask, hook_count, hook_off
  local f, m, c = gethook()
  if type(f) == "function" then
    sethook()
    hook_fn, hook_mask, hook_count, hook_off = f, m, c, true
  else
    f, hook_off = nil, false
  end
  local ok, v = pcall(fn, a, b)
  if f then sethook(f, m, c) end
  hook_fn, hook_mask, hook_count, hook_off = sf, sm, sc, soff
  return ok, v
end

-- The sandbox's sort: C's up to its bound, past it a Lua sort that yields when preempted; so the
-- count hook is on while it runs, and this module's state is restored after a yield in it.
local bounded_sort = P.patterns.sort
local function sort_hooked(keys)
  if not hook_off then return bounded_sort(keys) end
  local b, k, s, f, m, c = buf, n, str, hook_fn, hook_mask, hook_count
  sethook(f, m, c)
  bounded_sort(keys)
  sethook()
  buf, n, str, hook_fn, hook_mask, hook_count, hook_off = b, k, s, f, m, c, true
end

local encode_table

local function encode_special(t, mt, depth)
  if mt == TIME then n = n + 1; buf[n] = quote(t:format("2006-01-02T15:04:05.999999999Z07:00")) return true end
  if mt == DURATION then n = n + 1; buf[n] = int_text(t.ns) return true end
  if mt == ERR then n = n + 1; buf[n] = quote(tostring(t._message)) return true end
  if mt == PAYLOAD then
    local v = t.v
    if type(v) == "table" then encode_table(v, depth) return true end
    n = n + 1
    local tv = type(v)
    if tv == "string" then buf[n] = quote(v)
    elseif tv == "number" then buf[n] = mtype(v) == "integer" and int_text(v) or float_text(v)
    elseif tv == "boolean" then buf[n] = v and "true" or "false"
    else buf[n] = "null" end
    return true
  end
  if mt == CH then n = n + 1; buf[n] = "null" return true end
  if rawget(mt, "__location") then n = n + 1; buf[n] = quote(t.name) return true end
  return false
end

-- Shapes: a trie over object keys in traversal order; a node's LEAF holds that key set sorted
-- and the text written before each member. Bounded in nodes and key length.
local SHAPES_MAX, LEAF = 8192, {}
local SHAPES, nshapes = {}, 0

local function new_shape(t, node)
  local keys, nk = {}, 0
  for k in next, t do nk = nk + 1; keys[nk] = k end
  sort(keys)
  local prefixes = {}
  for i = 1, nk do prefixes[i] = (i == 1 and "{" or ",") .. quote(keys[i]) .. ":" end
  local shape = {keys, prefixes}
  node[LEAF] = shape
  return shape
end

local encode_plain

encode_table = function(t, depth)
  if depth > MAX_DEPTH then FAIL.msg = E_DEPTH; error(FAIL, 0) end
  local mt = getmetatable(t)
  if mt == nil then return encode_plain(t, depth) end
  if hook_off then
    sethook(hook_fn, hook_mask, hook_count); hook_off = false
    if not encode_special(t, mt, depth) then encode_plain(t, depth) end
    sethook(); hook_off = true
    return
  end
  if not encode_special(t, mt, depth) then encode_plain(t, depth) end
end

-- a table without a metatable, or one whose metatable is not a runtime type's
encode_plain = function(t, depth)
  local len = #t
  if len > 0 then
    -- array candidate: every key must be 1..len
    local count = 0
    for _ in next, t do
      count = count + 1
      steps = steps - 1; if steps == 0 then tick() end
    end
    if count ~= len then
      for k in next, t do
        steps = steps - 1; if steps == 0 then tick() end
        if not (mtype(k) == "integer" and k > 0) then FAIL.msg = E_MIXED; error(FAIL, 0) end
      end
      FAIL.msg = E_SPARSE; error(FAIL, 0)
    end
    n = n + 1; buf[n] = "["
    for i = 1, len do
      steps = steps - 1; if steps == 0 then tick() end
      if i > 1 then n = n + 1; buf[n] = "," end
      local v = t[i]
      local tv = type(v)
      if tv == "table" then encode_table(v, depth + 1)
      else
        n = n + 1
        if tv == "string" then
          local q = QCACHE[v]
          if q then buf[n] = q
          elseif find(v, UNSAFE) then buf[n] = quote(v)
          else buf[n] = '"'; buf[n + 1] = v; buf[n + 2] = '"'; n = n + 2 end
        elseif tv == "number" then buf[n] = mtype(v) == "integer" and int_text(v) or float_text(v)
        elseif tv == "boolean" then buf[n] = v and "true" or "false"
        else buf[n] = "null" end
      end
    end
    n = n + 1; buf[n] = "]"
    return
  end
  local key = next(t)
  if key == nil then n = n + 1; buf[n] = "[]" return end
  -- object with string keys: its shape (the keys in traversal order) leads to the sorted keys
  -- and their written prefixes, so records of one shape are not collected and sorted again
  local node = SHAPES
  repeat
    if type(key) ~= "string" then node = nil break end
    local child = node[key]
    if child == nil then
      if nshapes >= SHAPES_MAX or #key > 64 then node = nil break end
      nshapes = nshapes + 1
      child = {}
      node[key] = child
    end
    node = child
    key = next(t, key)
  until key == nil
  if node then
    local shape = node[LEAF] or new_shape(t, node)
    local keys, prefixes = shape[1], shape[2]
    for i = 1, #keys do
      steps = steps - 1; if steps == 0 then tick() end
      local v = t[keys[i]]
      n = n + 1; buf[n] = prefixes[i]
      local tv = type(v)
      if tv == "table" then encode_table(v, depth + 1)
      else
        n = n + 1
        if tv == "string" then
          -- a string that needs no escaping is written as is, between quotes: no new string
          local q = QCACHE[v]
          if q then buf[n] = q
          elseif find(v, UNSAFE) then buf[n] = quote(v)
          else buf[n] = '"'; buf[n + 1] = v; buf[n + 2] = '"'; n = n + 2 end
        elseif tv == "number" then buf[n] = mtype(v) == "integer" and int_text(v) or float_text(v)
        elseif tv == "boolean" then buf[n] = v and "true" or "false"
        else buf[n] = "null" end
      end
    end
    n = n + 1; buf[n] = "}"
    return
  end
  -- any other object: collect the written keys, sort them, write members
  local keys, nk, numeric, other = {}, 0, false, false
  local map
  for key in next, t do
    steps = steps - 1; if steps == 0 then tick() end
    if type(key) == "string" then
      other = true
      nk = nk + 1; keys[nk] = key
    elseif mtype(key) == "integer" and key > 0 then
      numeric = true
    else
      other = true
      local kt = key_text(key)
      if kt and t[kt] == nil then
        map = map or {}
        if map[kt] == nil then
          map[kt] = key
          nk = nk + 1; keys[nk] = kt
        end
      end
    end
  end
  if numeric then
    if other then FAIL.msg = E_MIXED else FAIL.msg = E_SPARSE end
    error(FAIL, 0)
  end
  if nk > 1 then sort_hooked(keys) end
  for i = 1, nk do
    steps = steps - 1; if steps == 0 then tick() end
    local key = keys[i]
    local v
    if map and map[key] ~= nil then v = t[map[key]] else v = t[key] end
    n = n + 1
    if i == 1 then buf[n] = "{" .. key_prefix(key, true) else buf[n] = key_prefix(key, false) end
    local tv = type(v)
    if tv == "table" then encode_table(v, depth + 1)
    else
      n = n + 1
      if tv == "string" then buf[n] = quote(v)
      elseif tv == "number" then buf[n] = mtype(v) == "integer" and int_text(v) or float_text(v)
      elseif tv == "boolean" then buf[n] = v and "true" or "false"
      else buf[n] = "null" end
    end
  end
  n = n + 1; buf[n] = "}"
end

-- Cycles are not tracked while encoding (that costs two table writes per table); a cycle
-- shows up as nesting beyond MAX_DEPTH, and only then is the value checked for one.
-- state[t]: true while t is on the path being walked (met again: a cycle), false once walked
-- (a table shared by many parents is walked once: linear, where a DAG could be exponential)
local function has_cycle(t, state)
  local known = state[t]
  if known ~= nil then return known end
  state[t] = true
  for k, v in next, t do
    if type(v) == "table" and getmetatable(v) == nil and has_cycle(v, state) then return true end
    if type(k) == "table" and getmetatable(k) == nil and has_cycle(k, state) then return true end
  end
  state[t] = false
  return false
end

-- The native codec (wippy/native/json.c), when built, takes the common case and leaves the rest
-- to the code here (it returns false: runtime types, metamethods, invalid UTF-8, any error).
-- The event loop waits on a C call, so one handles at most C_MAX bytes; its work is charged to
-- the task's budget as one count hook call per C_CHARGE bytes (about what the Lua codec costs),
-- and a preemption raised meanwhile is taken right after.
local c_encode, c_decode = py.c_encode, py.c_decode
local C_MAX, C_CHARGE = 2 * 1048576, 65536

local function charge(bytes)
  local f = gethook()
  if type(f) == "function" then
    for _ = 1, bytes // C_CHARGE do f("count") end
  end
  if YIELD.f then YIELD.y() end
end

local function encode_to_string(v)
  local tv = type(v)
  if tv == "string" then return quote(v) end
  if tv == "number" then return mtype(v) == "integer" and int_text(v) or float_text(v) end
  if tv == "boolean" then return v and "true" or "false" end
  if tv ~= "table" then return "null" end   -- nil, functions, coroutines, userdata (as Wippy)
  if c_encode then
    local ok, s = pcall(c_encode, v, C_MAX)
    if not ok then reraise_kill(s) return nil, tostring(s) end   -- out of memory
    if s then charge(#s) return s end
  end
  if nshapes >= SHAPES_MAX then SHAPES, nshapes = {}, 0 end
  local sb, sn = buf, n
  buf, n = {}, 0
  local ok, err = unhooked(encode_table, v, 0)
  local out = ok and concat(buf, "", 1, n) or nil
  buf, n = sb, sn
  if not ok then
    if err == FAIL then
      if FAIL.msg == E_DEPTH and has_cycle(v, {}) then return nil, E_CYCLE end
      return nil, FAIL.msg
    end
    reraise_kill(err)
    return nil, tostring(err)
  end
  return out
end

---------------------------------------------------------------------------
-- decoding
---------------------------------------------------------------------------
local UNESC = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t"}
local SAFE, scount = {}, 0     -- string bodies already known to need no unescaping

local decode_value

local function derr(msg, pos)
  FAIL.msg = msg .. " at offset " .. (pos - 1)
  error(FAIL, 0)
end

local function char_desc(pos)
  local c = sub(str, pos, pos)
  if c == "" then return "end of input" end
  return "character '" .. c .. "'"
end

-- the string literal with escapes starting at pos; e is the first backslash
local function decode_escaped(pos, e)
  local p = e
  local c
  while true do
    steps = steps - 1; if steps == 0 then tick() end
    -- p is at a backslash
    local ec = byte(str, p + 1)
    if ec == nil then derr("unexpected end of JSON input in string", p + 1) end
    if ec == 117 then   -- \u
      if not find(str, "^%x%x%x%x", p + 2) then derr("invalid escape in string", p) end
      p = p + 6
    elseif UNESC[char(ec)] then
      p = p + 2
    else
      derr("invalid escape '\\" .. char(ec) .. "' in string", p)
    end
    e = find(str, '["\\%z\1-\31]', p)
    if not e then derr("unexpected end of JSON input in string", #str + 1) end
    c = byte(str, e)
    if c == 34 then break end
    if c ~= 92 then derr("invalid control character in string", e) end
    p = e
  end
  local raw = sub(str, pos + 1, e - 1)
  local s
  if find(raw, "\\u", 1, true) then s = py.unescape(raw)
  else s = gsub(raw, "\\(.)", UNESC) end
  return s, e + 1
end

-- decode the string literal starting at pos (the opening quote); returns value, next pos
local function decode_string(pos)
  local e = find(str, '"', pos + 1, true)
  if not e then derr("unexpected end of JSON input in string", #str + 1) end
  local raw = sub(str, pos + 1, e - 1)
  if SAFE[raw] then return raw, e + 1 end
  local b = find(raw, '[%z\1-\31\\]')
  if not b then
    if #raw <= 64 then
      if scount >= CACHE_MAX then SAFE, scount = {}, 0 end
      scount = scount + 1
      SAFE[raw] = true
    end
    return raw, e + 1
  end
  if byte(raw, b) ~= 92 then derr("invalid control character in string", pos + b) end
  return decode_escaped(pos, pos + b)
end

local function decode_number(pos)
  local s, e = find(str, "^-?%d+", pos)
  if not s then derr("invalid " .. char_desc(pos) .. " looking for beginning of value", pos) end
  local d = byte(str, pos) == 45 and pos + 1 or pos
  if byte(str, d) == 48 and e > d then derr("invalid number (leading zero)", d) end
  local nx = byte(str, e + 1)
  if nx ~= 46 and nx ~= 101 and nx ~= 69 then
    return tonumber(sub(str, pos, e)), e + 1     -- integer (float when beyond int64)
  end
  if nx == 46 then
    local _, fe = find(str, "^%d+", e + 2)
    if not fe then derr("invalid number", e + 1) end
    e = fe
    nx = byte(str, e + 1)
  end
  if nx == 101 or nx == 69 then
    local _, xe = find(str, "^[-+]?%d+", e + 2)
    if not xe then derr("invalid number", e + 1) end
    e = xe
  end
  local v = tonumber(sub(str, pos, e)) + 0.0
  if v == huge or v == -huge then derr("number out of range", pos) end
  return v, e + 1
end

local function skip_ws(pos)
  local c = byte(str, pos)
  if c == 32 or c == 10 or c == 13 or c == 9 then
    return find(str, "[^ \t\r\n]", pos) or (#str + 1)
  end
  return pos
end

-- a scalar or nested value whose first byte c is at pos
local function decode_other(c, pos, depth)
  if c == 116 then
    if sub(str, pos, pos + 3) == "true" then return true, pos + 4 end
  elseif c == 102 then
    if sub(str, pos, pos + 4) == "false" then return false, pos + 5 end
  elseif c == 110 then
    if sub(str, pos, pos + 3) == "null" then return nil, pos + 4 end
  elseif c == 45 or (c and c >= 48 and c <= 57) then
    return decode_number(pos)
  elseif c == 123 or c == 91 then
    return decode_value(pos, depth)
  elseif c == nil then
    derr("unexpected end of JSON input", pos)
  end
  derr("invalid " .. char_desc(pos) .. " looking for beginning of value", pos)
end

decode_value = function(pos, depth)
  local c = byte(str, pos)
  if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
  if c == 123 then   -- {
    if depth >= MAX_DEPTH then derr("maximum nesting depth exceeded", pos) end
    local t = {}
    pos = pos + 1
    c = byte(str, pos)
    if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
    if c == 125 then return t, pos + 1 end
    while true do
      steps = steps - 1; if steps == 0 then tick() end
      -- key (a string; the common case has no escapes and is cached)
      if c ~= 34 then derr("invalid " .. char_desc(pos) .. " looking for beginning of object key string", pos) end
      local e = find(str, '"', pos + 1, true)
      if not e then derr("unexpected end of JSON input in string", #str + 1) end
      local k = sub(str, pos + 1, e - 1)
      if SAFE[k] then pos = e + 1 else k, pos = decode_string(pos) end
      c = byte(str, pos)
      if c ~= 58 then
        pos = skip_ws(pos); c = byte(str, pos)
        if c ~= 58 then derr("invalid " .. char_desc(pos) .. " after object key", pos) end
      end
      -- value
      pos = pos + 1
      c = byte(str, pos)
      if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
      local v
      if c == 34 then v, pos = decode_string(pos)
      else v, pos = decode_other(c, pos, depth + 1) end
      t[k] = v
      c = byte(str, pos)
      if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
      if c == 44 then
        pos = pos + 1
        c = byte(str, pos)
        if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
      elseif c == 125 then return t, pos + 1
      else derr("invalid " .. char_desc(pos) .. " after object key:value pair", pos) end
    end
  end
  if c == 91 then   -- [
    if depth >= MAX_DEPTH then derr("maximum nesting depth exceeded", pos) end
    local t, i = {}, 0
    pos = pos + 1
    c = byte(str, pos)
    if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
    if c == 93 then return t, pos + 1 end
    while true do
      steps = steps - 1; if steps == 0 then tick() end
      local v
      if c == 34 then v, pos = decode_string(pos)
      else v, pos = decode_other(c, pos, depth + 1) end
      i = i + 1
      t[i] = v
      c = byte(str, pos)
      if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
      if c == 44 then
        pos = pos + 1
        c = byte(str, pos)
        if c == 32 or c == 10 or c == 13 or c == 9 then pos = skip_ws(pos); c = byte(str, pos) end
      elseif c == 93 then return t, pos + 1
      else derr("invalid " .. char_desc(pos) .. " after array element", pos) end
    end
  end
  if c == 34 then return decode_string(pos) end
  return decode_other(c, pos, depth)
end

local function decode_top(s)
  local v, pos = decode_value(1, 0)
  pos = skip_ws(pos)
  if pos <= #s then derr("invalid " .. char_desc(pos) .. " after top-level value", pos) end
  return v
end

local function decode_string_value(s)
  if not utf8len(s) then return nil, "invalid UTF-8 in JSON input" end
  local saved = str
  str = s
  local ok, v = unhooked(decode_top, s)
  str = saved
  if not ok then
    if v == FAIL then return nil, FAIL.msg end
    reraise_kill(v)
    if S.is_error(v) then return nil, v:message() end
    return nil, tostring(v)
  end
  return v
end

-- A document of some size is read by Python's C decoder and crosses as one table (see
-- json.py); small ones are cheaper here. Capped so one call holds the event loop for well
-- under a slice (beyond the cap Lua decodes, interruptibly), and taken only when the heap has
-- room for the tables: an allocation failing in Python, outside any task, is not survivable.
local FAST_MIN, FAST_MAX = 512, 2 * 1048576
local BYTES_PER_TEXT_BYTE = 24    -- Lua heap per byte of text, with room (`[[],[],...]` needs ~19)
local py_decode = py.decode
local cgcount = collectgarbage

local function decode_value_fast(s)
  local n = #s
  if c_decode and n <= C_MAX then
    local ok, done, v = pcall(c_decode, s)
    if not ok then reraise_kill(done) return nil, tostring(done) end   -- out of memory
    charge(n)
    if done then return v end
    return decode_string_value(s)
  end
  if n >= FAST_MIN and n <= FAST_MAX then
    local max = S.max_memory
    if (max == 0 or cgcount("count") * 1024 + n * BYTES_PER_TEXT_BYTE < max)
        and find(s, "^[ \t\r\n]*[%[{]") and utf8len(s) then
      local ok, v = py_decode(s)
      if ok then return v end
    end
  end
  return decode_string_value(s)
end

---------------------------------------------------------------------------
-- module
---------------------------------------------------------------------------
local json = {}

function json.encode(v)
  local s, msg = encode_to_string(v)
  if s == nil then return nil, new_error("Invalid", msg, false) end
  return s
end

function json.decode(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "string expected", false) end
  if s == "" then return nil, new_error("Invalid", "empty string is not valid JSON", false) end
  local v, msg = decode_value_fast(s)
  if msg then return nil, new_error("Invalid", "decode failed: " .. msg, false) end
  return v
end

local function schema_text(schema)
  local ts = type(schema)
  if ts == "string" then
    if not utf8len(schema) then return nil, "schema is not valid UTF-8" end
    return schema
  end
  if ts == "table" then return encode_to_string(schema) end
  return nil, "schema must be a string or table"
end

local function validate_text(schema, data_text, lenient_empty)
  local stext, serr = schema_text(schema)
  if not stext then return false, new_error("Invalid", "schema error: " .. serr, false) end
  local ok, msg = py.validate(stext, data_text, lenient_empty)
  -- more work than the event loop may take in one go: again in a worker thread
  if not ok and msg == nil then ok, msg = py.validate_off(stext, data_text, lenient_empty) end
  if ok then return true end
  return false, new_error("Invalid", msg, false)
end

function json.validate(schema, data)
  if schema == nil then return false, new_error("Invalid", "schema is required", false) end
  if data == nil then return false, new_error("Invalid", "data is required", false) end
  local text, msg = encode_to_string(data)
  if not text then return false, new_error("Invalid", "convert data: " .. msg, false) end
  return validate_text(schema, text, true)
end

function json.validate_string(schema, s)
  if schema == nil then return false, new_error("Invalid", "schema is required", false) end
  if type(s) ~= "string" then return false, new_error("Invalid", "data must be a JSON string", false) end
  if not utf8len(s) then return false, new_error("Invalid", "data is not valid UTF-8", false) end
  return validate_text(schema, s, false)
end

-- for other modules (payload transcoding, http): the same encoder and decoder
S.json_encode = encode_to_string
S.json_decode = decode_value_fast

return json
