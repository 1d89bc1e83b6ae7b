-- Yield points for Lua given at run time (`load`, the eval_runner module). Entry code gets them
-- from the front end (wippy.lang, in Python, ~1s per 100KB: too slow to run on the event loop for
-- each chunk); this is a scan in Lua, in the caller's budget, that inserts the same store
-- (`__wy.p = true`, see YIELD in core.lua) where the front end does: at the start of every `do` block
-- (loop bodies), after `repeat`, at every function's entry and before every `goto`, on the
-- source's own line. Only sources Lua compiles are scanned (the caller loads them first), so
-- the lexer may trust the syntax.
local S = ...
local byte, sub, find, concat = string.byte, string.sub, string.find, table.concat
local YIELD = S.YIELD

local POINT = " __wy.p = true "
local DQ, SQ, DASH, LBRACK, BSLASH = 34, 39, 45, 91, 92

-- end of a long bracket (`[==[ ... ]==]`) opening at i, or nil if none opens there
local function long_end(src, i)
  local _, open_end, eqs = find(src, "^%[(=*)%[", i)
  if not open_end then return nil end
  local _, close_end = find(src, "]" .. eqs .. "]", open_end + 1, true)
  return close_end or #src
end

local function string_end(src, i, q)
  local pat = q == DQ and '[\\"]' or "[\\']"
  local p = i + 1
  while true do
    local j = find(src, pat, p)
    if not j then return #src end
    if byte(src, j) == BSLASH then p = j + 2 else return j end
  end
end

-- The source with yield points, or nil and a message (a name no source may use).
function S.with_yield_points(src)
  local out, n, from, pos = {}, 0, 1, 1
  local after_function = false   -- a `function` keyword seen: its parameter list's `)` is next
  while true do
    if YIELD.f then YIELD.y() end
    local i = find(src, "[%w_\"'%-%[%)]", pos)
    if not i then break end
    local c = byte(src, i)
    if c == DQ or c == SQ then
      pos = string_end(src, i, c) + 1
    elseif c == DASH then
      if byte(src, i + 1) == DASH then
        -- a short comment ends at a line break, which for Lua's lexer is "\r" as well as "\n"
        pos = (long_end(src, i + 2) or find(src, "[\r\n]", i + 2) or #src) + 1
      else
        pos = i + 1
      end
    elseif c == LBRACK then
      pos = (long_end(src, i) or i) + 1
    elseif c == 41 then   -- ")"
      if after_function then
        n = n + 1; out[n] = sub(src, from, i); n = n + 1; out[n] = POINT
        from, after_function = i + 1, false
      end
      pos = i + 1
    else
      local _, e = find(src, "^[%w_]*", i)
      local word = sub(src, i, e)
      if word == "do" or word == "repeat" then
        n = n + 1; out[n] = sub(src, from, e); n = n + 1; out[n] = POINT
        from = e + 1
      elseif word == "goto" then
        n = n + 1; out[n] = sub(src, from, i - 1); n = n + 1; out[n] = POINT
        from = i
      elseif word == "function" then
        after_function = true
      elseif word == "__wy" then
        return nil, "the name __wy is reserved"
      end
      pos = e + 1
    end
  end
  n = n + 1; out[n] = sub(src, from)
  return concat(out, "", 1, n)
end
