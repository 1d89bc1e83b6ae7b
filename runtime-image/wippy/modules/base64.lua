-- The `base64` module: standard alphabet with padding (Go's base64.StdEncoding).
-- Strings cross to Python as bytes (binary-safe, see binary.lua).
local S, P, py = ...
local type, utf8len = type, utf8.len
local new_error, arg = S.new_error, S.bytes.arg

local base64 = {}

function base64.encode(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "string expected", false) end
  if s == "" then return "" end
  return py.encode(arg(s))
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
