-- The `base64` module: standard alphabet with padding (Go's base64.StdEncoding).
-- Lua strings are bytes: a string that is not valid UTF-8 is handed to Python as
-- latin-1 text (one code point per byte) so that binary data round-trips exactly.
local S, P, py = ...
local type, gsub, char, utf8len, utf8char = type, string.gsub, string.char, utf8.len, utf8.char
local new_error = S.new_error

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end

local base64 = {}

function base64.encode(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "string expected", false) end
  if s == "" then return "" end
  if utf8len(s) then return py.encode(s, false) end
  return py.encode((gsub(s, "[\128-\255]", LATIN1)), true)
end

function base64.decode(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "string expected", false) end
  if s == "" then return "" end
  if not utf8len(s) then
    local _, bad = utf8len(s)
    return nil, new_error("Invalid", "decode failed: illegal base64 data at input byte " .. (bad - 1), false)
  end
  return py.decode(s)
end

return base64
