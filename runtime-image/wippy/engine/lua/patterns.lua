-- Budgeted string operations for the sandbox. Lua's pattern matcher is one C call that no
-- count hook can interrupt, and backtracking makes it polynomial in the subject length with
-- the number of quantifiers as exponent (`string.rep("a*", 12) .. "b"` never ends). A match
-- whose worst case is small runs in C; any other runs in this file's port of the matcher
-- (lstrlib.c, Lua 5.4), which is ordinary Lua code and so counted against the caller's budget.
-- Results that would be huge (string.rep, table.concat, gsub output) are refused up front.
local S = ...

local byte, sub, char, rep, format, upper = string.byte, string.sub, string.char, string.rep,
  string.format, string.upper
local c_find, c_match, c_gmatch, c_gsub = string.find, string.match, string.gmatch, string.gsub
local type, error, tostring, select, tointeger = type, error, tostring, select, math.tointeger
local concat, unpack, sort, move = table.concat, table.unpack, table.sort, table.move
local getmetatable, pack = debug.getmetatable, table.pack

local MAX_STRING = 64 * 1024 * 1024   -- bytes one string operation may produce
local C_COST = 1e6                    -- worst-case steps a match may take in C
local MAXCCALLS, MAXCAPTURES = 200, 32
local CAP_UNFINISHED, CAP_POSITION = -1, -2
local ESC, LBRACK, RBRACK, CARET, DASH = 37, 91, 93, 94, 45

-- character classes, tabulated once from the C implementation
local CLASS = {}
for _, cl in ipairs({"a", "c", "d", "g", "l", "p", "s", "u", "w", "x"}) do
  local lo, up = {}, {}
  for c = 0, 255 do
    local yes = c_find(char(c), "%" .. cl) ~= nil
    lo[c], up[c] = yes, not yes
  end
  CLASS[byte(cl)], CLASS[byte(upper(cl))] = lo, up
end

local function match_class(c, cl)
  local t = CLASS[cl]
  if t then return t[c] end
  return cl == c
end

local function class_end(ms, p)
  local pat, plen = ms.p, ms.plen
  local c = byte(pat, p); p = p + 1
  if c == ESC then
    if p > plen then error("malformed pattern (ends with '%')", 0) end
    return p + 1
  elseif c == LBRACK then
    if byte(pat, p) == CARET then p = p + 1 end
    repeat
      if p > plen then error("malformed pattern (missing ']')", 0) end
      local cc = byte(pat, p); p = p + 1
      if cc == ESC and p <= plen then p = p + 1 end
    until byte(pat, p) == RBRACK
    return p + 1
  end
  return p
end

-- p at '[', ec at the closing ']'
local function match_bracket(ms, c, p, ec)
  local pat = ms.p
  local sig = true
  if byte(pat, p + 1) == CARET then sig = false; p = p + 1 end
  p = p + 1
  while p < ec do
    local pc = byte(pat, p)
    if pc == ESC then
      p = p + 1
      if match_class(c, byte(pat, p)) then return sig end
    elseif byte(pat, p + 1) == DASH and p + 2 < ec then
      if pc <= c and c <= byte(pat, p + 2) then return sig end
      p = p + 2
    elseif pc == c then
      return sig
    end
    p = p + 1
  end
  return not sig
end

local function single(ms, s, p, ep)
  if s > ms.slen then return false end
  local c = byte(ms.s, s)
  local pc = byte(ms.p, p)
  if pc == 46 then return true                       -- '.'
  elseif pc == ESC then return match_class(c, byte(ms.p, p + 1))
  elseif pc == LBRACK then return match_bracket(ms, c, p, ep - 1)
  end
  return pc == c
end

local do_match

-- the matcher's loops are yield points (S.YIELD): a long match is preempted, not ended
local YIELD = S.YIELD

local function max_expand(ms, s, p, ep)
  local i = 0
  while single(ms, s + i, p, ep) do
    i = i + 1
    if YIELD.f then YIELD.y() end
  end
  while i >= 0 do
    local r = do_match(ms, s + i, ep + 1)
    if r then return r end
    i = i - 1
  end
  return nil
end

local function min_expand(ms, s, p, ep)
  while true do
    local r = do_match(ms, s, ep + 1)
    if r then return r end
    if single(ms, s, p, ep) then s = s + 1 else return nil end
  end
end

local function start_capture(ms, s, p, what)
  local level = ms.level
  if level >= MAXCAPTURES then error("too many captures", 0) end
  ms.cinit[level + 1], ms.clen[level + 1] = s, what
  ms.level = level + 1
  local r = do_match(ms, s, p)
  if not r then ms.level = ms.level - 1 end
  return r
end

local function end_capture(ms, s, p)
  local l
  for i = ms.level, 1, -1 do
    if ms.clen[i] == CAP_UNFINISHED then l = i; break end
  end
  if not l then error("invalid pattern capture", 0) end
  ms.clen[l] = s - ms.cinit[l]
  local r = do_match(ms, s, p)
  if not r then ms.clen[l] = CAP_UNFINISHED end
  return r
end

local function match_balance(ms, s, p)
  if p >= ms.plen then error("malformed pattern (missing arguments to '%b')", 0) end
  if s > ms.slen or byte(ms.s, s) ~= byte(ms.p, p) then return nil end
  local b, e, cont = byte(ms.p, p), byte(ms.p, p + 1), 1
  local str, slen = ms.s, ms.slen
  s = s + 1
  while s <= slen do
    if YIELD.f then YIELD.y() end
    local c = byte(str, s)
    if c == e then
      cont = cont - 1
      if cont == 0 then return s + 1 end
    elseif c == b then
      cont = cont + 1
    end
    s = s + 1
  end
  return nil
end

local function match_capture(ms, s, l)
  l = l - 49   -- '1' -> 0
  if l < 0 or l >= ms.level or ms.clen[l + 1] == CAP_UNFINISHED then
    error(format("invalid capture index %%%d", l + 1), 0)
  end
  local len = ms.clen[l + 1]
  local init = ms.cinit[l + 1]
  if ms.slen - s + 1 >= len and sub(ms.s, init, init + len - 1) == sub(ms.s, s, s + len - 1) then
    return s + len
  end
  return nil
end

do_match = function(ms, s, p)
  if YIELD.f then YIELD.y() end
  ms.depth = ms.depth - 1
  if ms.depth == 0 then error("pattern too complex", 0) end
  local pat, plen = ms.p, ms.plen
  while true do
    if p > plen then break end
    local pc = byte(pat, p)
    if pc == 40 then                                   -- '('
      if byte(pat, p + 1) == 41 then s = start_capture(ms, s, p + 2, CAP_POSITION)
      else s = start_capture(ms, s, p + 1, CAP_UNFINISHED) end
      break
    elseif pc == 41 then                               -- ')'
      s = end_capture(ms, s, p + 1)
      break
    elseif pc == 36 and p == plen then                 -- '$' at the end
      if s ~= ms.slen + 1 then s = nil end
      break
    end
    local nc = pc == ESC and byte(pat, p + 1)
    if nc == 98 then                                   -- %b
      s = match_balance(ms, s, p + 2)
      if not s then break end
      p = p + 4
    elseif nc == 102 then                              -- %f
      p = p + 2
      if byte(pat, p) ~= LBRACK then error("missing '[' after '%f' in pattern", 0) end
      local ep = class_end(ms, p)
      local prev = s == 1 and 0 or byte(ms.s, s - 1)
      local cur = s <= ms.slen and byte(ms.s, s) or 0
      if not match_bracket(ms, prev, p, ep - 1) and match_bracket(ms, cur, p, ep - 1) then
        p = ep
      else
        s = nil
        break
      end
    elseif nc and nc >= 48 and nc <= 57 then           -- %0-%9
      s = match_capture(ms, s, nc)
      if not s then break end
      p = p + 2
    else
      local ep = class_end(ms, p)
      local epc = byte(pat, ep)
      if not single(ms, s, p, ep) then
        if epc == 42 or epc == 63 or epc == DASH then  -- '*', '?', '-' accept empty
          p = ep + 1
        else
          s = nil
          break
        end
      elseif epc == 63 then                            -- '?'
        local r = do_match(ms, s + 1, ep + 1)
        if r then s = r; break end
        p = ep + 1
      elseif epc == 43 then                            -- '+'
        s = max_expand(ms, s + 1, p, ep)
        break
      elseif epc == 42 then                            -- '*'
        s = max_expand(ms, s, p, ep)
        break
      elseif epc == DASH then                          -- '-'
        s = min_expand(ms, s, p, ep)
        break
      else
        s = s + 1
        p = ep
      end
    end
  end
  ms.depth = ms.depth + 1
  return s
end

local function new_state(s, p)
  return {s = s, slen = #s, p = p, plen = #p, level = 0, cinit = {}, clen = {}, depth = MAXCCALLS}
end

local function reset(ms) ms.level = 0; ms.depth = MAXCCALLS end

local function capture(ms, i, s, e)
  if i > ms.level then
    if i ~= 1 then error(format("invalid capture index %%%d", i), 0) end
    return sub(ms.s, s, e - 1)
  end
  local l = ms.clen[i]
  if l == CAP_UNFINISHED then error("unfinished capture", 0) end
  local init = ms.cinit[i]
  if l == CAP_POSITION then return init end
  return sub(ms.s, init, init + l - 1)
end

local function captures(ms, s, e, whole)
  local n = (ms.level == 0 and whole) and 1 or ms.level
  local out = {}
  for i = 1, n do out[i] = capture(ms, i, s, e) end
  return out, n
end

local function posrelat(pos, len)
  if pos > 0 then return pos end
  if pos == 0 or pos < -len then return 1 end
  return len + pos + 1
end

-- quantifiers of a pattern (-1: one greedy quantifier ending it), kept per pattern: the same few
-- patterns are matched over and over (bounded, emptied when full)
local quantifiers, nquant = {}, 0
local function count_quantifiers(p)
  local q = 0
  for _ in c_gmatch(p, "[%*%+%-%?]") do q = q + 1 end
  for _ in c_gmatch(p, "%%b") do q = q + 1 end
  local last = byte(p, #p)
  if q == 1 and (last == 42 or last == 43) then q = -1 end
  if nquant >= 4096 then quantifiers, nquant = {}, 0 end
  quantifiers[p] = q
  nquant = nquant + 1
  return q
end

-- worst-case steps of a match in C: (subject length + 1) ^ (quantifiers, plus one when every
-- position is a start); a lone greedy quantifier that ends the pattern is linear.
local function c_is_cheap(s, p, scans)
  local q = quantifiers[p] or count_quantifiers(p)
  if q <= 0 then return true end
  return (#s + 1) ^ (q + scans) <= C_COST
end

local function check_string(v, what, n)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  error(format("bad argument #%d to '%s' (string expected, got %s)", n, what, t), 3)
end

local function has_specials(p) return c_find(p, "[%^%$%*%+%?%.%(%)%[%]%%%-]") ~= nil end

local function lua_find(s, p, init, is_find)
  local ls = #s
  init = posrelat(tointeger(init) or 1, ls)
  if init > ls + 1 then return nil end
  local anchor = byte(p) == CARET
  if anchor then p = sub(p, 2) end
  local ms = new_state(s, p)
  local s1 = init
  repeat
    reset(ms)
    local e = do_match(ms, s1, 1)
    if e then
      if is_find then
        local caps, n = captures(ms, nil, nil, false)
        return s1, e - 1, unpack(caps, 1, n)
      end
      local caps, n = captures(ms, s1, e, true)
      return unpack(caps, 1, n)
    end
    s1 = s1 + 1
  until s1 > ls + 1 or anchor
  return nil
end

local M = {}

function M.find(s, p, init, plain)
  s, p = check_string(s, "find", 1), check_string(p, "find", 2)
  if plain or not has_specials(p) or c_is_cheap(s, p, byte(p) == CARET and 0 or 1) then
    return c_find(s, p, init, plain)
  end
  return lua_find(s, p, init, true)
end

function M.match(s, p, init)
  s, p = check_string(s, "match", 1), check_string(p, "match", 2)
  if c_is_cheap(s, p, byte(p) == CARET and 0 or 1) then return c_match(s, p, init) end
  return lua_find(s, p, init, false)
end

function M.gmatch(s, p, init)
  s, p = check_string(s, "gmatch", 1), check_string(p, "gmatch", 2)
  if c_is_cheap(s, p, 1) then return c_gmatch(s, p, init) end
  local ls = #s
  local src = posrelat(tointeger(init) or 1, ls)
  if src > ls + 1 then src = ls + 2 end
  local ms, last = new_state(s, p), nil
  return function()
    while src <= ls + 1 do
      reset(ms)
      local e = do_match(ms, src, 1)
      if e and e ~= last then
        local start = src
        src, last = e, e
        local caps, n = captures(ms, start, e, true)
        return unpack(caps, 1, n)
      end
      src = src + 1
    end
    return nil
  end
end

local function add_string(ms, out, n, repl, s, e)
  local i, l = 1, #repl
  while i <= l do
    local j = c_find(repl, "%", i, true)
    if not j then n = n + 1; out[n] = sub(repl, i); break end
    n = n + 1; out[n] = sub(repl, i, j - 1)
    local c = byte(repl, j + 1)
    if c == ESC then n = n + 1; out[n] = "%"
    elseif c == 48 then n = n + 1; out[n] = sub(ms.s, s, e - 1)
    elseif c and c >= 49 and c <= 57 then n = n + 1; out[n] = tostring(capture(ms, c - 48, s, e))
    else error("invalid use of '%' in replacement string", 0) end
    i = j + 2
  end
  return n
end

local function replacement(v, s, b, e)
  if not v then return sub(s, b, e) end
  local t = type(v)
  if t ~= "string" and t ~= "number" then error("invalid replacement value (a " .. t .. ")", 3) end
  return tostring(v)
end

-- gsub with a function or table replacement, its matching done by C (a cheap pattern): the
-- loop and the calls are Lua's, so the replacement function runs where it can be preempted
-- (C's gsub calls it where no yield is possible). Same steps as lstrlib.c's str_gsub: an
-- empty match right where the previous match ended is skipped.
local function gsub_calls(s, p, repl, tr, max_n)
  local ls, anchor = #s, byte(p) == CARET
  local out, n, size, count, src, last = {}, 0, 0, 0, 1, nil
  while count < max_n do
    if YIELD.f then YIELD.y() end
    local r = pack(c_find(s, p, src))
    local b = r[1]
    if b == nil then break end
    local e = r[2] + 1
    if b == src and e == last then
      if src > ls then break end
      n = n + 1; out[n] = sub(s, src, src); size = size + 1
      src = src + 1
    else
      if b > src then n = n + 1; out[n] = sub(s, src, b - 1); size = size + b - src end
      count = count + 1
      local v
      if tr == "function" then
        if r.n > 2 then v = repl(unpack(r, 3, r.n)) else v = repl(sub(s, b, e - 1)) end
      elseif r.n > 2 then
        v = repl[r[3]]
      else
        v = repl[sub(s, b, e - 1)]
      end
      v = replacement(v, s, b, e - 1)
      n = n + 1; out[n] = v; size = size + #v
      src, last = e, e
    end
    if size > MAX_STRING then error("gsub result larger than " .. MAX_STRING .. " bytes", 2) end
    if anchor then break end
  end
  n = n + 1; out[n] = sub(s, src)
  return concat(out, "", 1, n), count
end

function M.gsub(s, p, repl, max_n)
  s, p = check_string(s, "gsub", 1), check_string(p, "gsub", 2)
  local tr = type(repl)
  if tr == "number" then repl = tostring(repl); tr = "string" end
  if tr ~= "string" and tr ~= "function" and tr ~= "table" then
    error("bad argument #3 to 'gsub' (string/function/table expected, got " .. tr .. ")", 2)
  end
  local ls = #s
  -- a string replacement can multiply the subject: the Lua path checks the size as it goes
  local small = tr ~= "string" or #repl * (ls + 1) + ls <= MAX_STRING
  max_n = tointeger(max_n) or ls + 1
  if small and c_is_cheap(s, p, byte(p) == CARET and 0 or 1) then
    if tr == "string" then return c_gsub(s, p, repl, max_n) end
    return gsub_calls(s, p, repl, tr, max_n)
  end
  local anchor = byte(p) == CARET
  if anchor then p = sub(p, 2) end
  local ms = new_state(s, p)
  local out, n, size, count, src, last = {}, 0, 0, 0, 1, nil
  while count < max_n do
    reset(ms)
    local e = do_match(ms, src, 1)
    if e and e ~= last then
      count = count + 1
      local before = n
      if tr == "string" then
        n = add_string(ms, out, n, repl, src, e)
      else
        local v
        if tr == "function" then
          local caps, k = captures(ms, src, e, true)
          v = repl(unpack(caps, 1, k))
        else
          v = repl[capture(ms, 1, src, e)]
        end
        if not v then v = sub(s, src, e - 1)
        elseif type(v) ~= "string" and type(v) ~= "number" then
          error("invalid replacement value (a " .. type(v) .. ")", 2)
        end
        n = n + 1; out[n] = tostring(v)
      end
      for k = before + 1, n do size = size + #out[k] end
      src, last = e, e
    elseif src <= ls then
      n = n + 1; out[n] = sub(s, src, src); size = size + 1
      src = src + 1
    else
      break
    end
    if size > MAX_STRING then error("gsub result larger than " .. MAX_STRING .. " bytes", 2) end
    if anchor then break end
  end
  n = n + 1; out[n] = sub(s, src)
  return concat(out, "", 1, n), count
end

function M.rep(s, n, sep)
  s = check_string(s, "rep", 1)
  n = tointeger(n) or error("bad argument #2 to 'rep' (number has no integer representation)", 2)
  sep = sep and check_string(sep, "rep", 3) or ""
  -- C repeats n times even for an empty string, so n itself is bounded too
  if n > MAX_STRING or (n > 0 and (#s + #sep) * n > MAX_STRING) then
    error("string.rep result larger than " .. MAX_STRING .. " bytes", 2)
  end
  return rep(s, n, sep)
end

function M.concat(t, sep, i, j)
  sep = sep or ""
  i = i or 1
  j = j or #t
  if type(i) == "number" and type(j) == "number" and j >= i then
    local size, ls = 0, type(sep) == "string" and #sep or 0
    for k = i, j do
      if YIELD.f then YIELD.y() end
      local v = t[k]
      if type(v) == "string" then size = size + #v + ls
      elseif type(v) == "number" then size = size + 24 + ls end
      if size > MAX_STRING then error("table.concat result larger than " .. MAX_STRING .. " bytes", 2) end
    end
  end
  return concat(t, sep, i, j)
end

-- Above this size the C versions would run long in one call: a Lua loop lets the count hook
-- see the work, and tests the yield flag. Strings compare by strcoll, slower than numbers:
-- C's sort of 100k strings took 0.1s (a whole slice), 100k numbers 0.04-0.06s.
local SORT_IN_C, SORT_STRINGS_IN_C, MOVE_IN_C = 100000, 32768, 100000
-- `<` as C's sort applies it (its errors carry no position: they are the caller's)
local function lt(a, b)
  local ta, tb = type(a), type(b)
  if ta == tb and (ta == "number" or ta == "string") then return a < b end
  local ma, mb = getmetatable(a), getmetatable(b)
  if (ma and rawget(ma, "__lt")) or (mb and rawget(mb, "__lt")) then return a < b end
  if ta == tb then error("attempt to compare two " .. ta .. " values", 0) end
  error("attempt to compare " .. ta .. " with " .. tb, 0)
end

local function sort_error() error("invalid order function for sorting", 4) end

-- Quicksort (median of three, Hoare partition) in Lua, so the comparator and __lt run where
-- the process can be preempted: C's sort calls them where no yield is possible.
local function lua_sort(t, n, less)
  local stack, sp = {}, 0
  local lo, hi = 1, n
  while true do
    while hi - lo > 10 do
      if YIELD.f then YIELD.y() end
      local mid = (lo + hi) // 2
      if less(t[mid], t[lo]) then t[mid], t[lo] = t[lo], t[mid] end
      if less(t[hi], t[mid]) then
        t[hi], t[mid] = t[mid], t[hi]
        if less(t[mid], t[lo]) then t[mid], t[lo] = t[lo], t[mid] end
      end
      local p, i, j = t[mid], lo, hi
      repeat
        while less(t[i], p) do
          i = i + 1
          if i > hi then sort_error() end
          if YIELD.f then YIELD.y() end
        end
        while less(p, t[j]) do
          j = j - 1
          if j < lo then sort_error() end
          if YIELD.f then YIELD.y() end
        end
        if i <= j then t[i], t[j] = t[j], t[i]; i = i + 1; j = j - 1 end
      until i > j
      -- go on with the smaller part, keep the larger for later (the stack stays logarithmic)
      if j - lo < hi - i then
        stack[sp + 1], stack[sp + 2], sp = i, hi, sp + 2; hi = j
      else
        stack[sp + 1], stack[sp + 2], sp = lo, j, sp + 2; lo = i
      end
    end
    for i = lo + 1, hi do
      local v, j = t[i], i - 1
      while j >= lo and less(v, t[j]) do t[j + 1] = t[j]; j = j - 1 end
      t[j + 1] = v
    end
    if sp == 0 then return end
    lo, hi, sp = stack[sp - 1], stack[sp], sp - 2
  end
end

function M.sort(t, comp)
  if type(t) ~= "table" then error("bad argument #1 to 'sort' (table expected, got " .. type(t) .. ")", 2) end
  if comp ~= nil and type(comp) ~= "function" then
    error("bad argument #2 to 'sort' (function expected, got " .. type(comp) .. ")", 2)
  end
  local n = #t
  if comp == nil and n <= SORT_IN_C and getmetatable(t) == nil then
    -- numbers only or strings only: C compares them without calling Lua
    local first = type(t[1])
    local plain = first == "number" or first == "string"
    for i = 2, plain and n or 0 do
      if type(t[i]) ~= first then plain = false; break end
    end
    if plain and (first == "number" or n <= SORT_STRINGS_IN_C) then return sort(t) end
  end
  lua_sort(t, n, comp or lt)
end

function M.move(a1, f, e, t, a2)
  a2 = a2 or a1
  if type(f) ~= "number" or type(e) ~= "number" or type(t) ~= "number" or e - f < MOVE_IN_C then
    return move(a1, f, e, t, a2)
  end
  if t > e or t <= f or a1 ~= a2 then
    for i = 0, e - f do
      if YIELD.f then YIELD.y() end
      a2[t + i] = a1[f + i]
    end
  else
    for i = e - f, 0, -1 do
      if YIELD.f then YIELD.y() end
      a2[t + i] = a1[f + i]
    end
  end
  return a2
end

M.MAX_STRING = MAX_STRING
return M
