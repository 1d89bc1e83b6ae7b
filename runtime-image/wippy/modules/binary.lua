-- Internal: Lua strings handed to Python as bytes. lupa decodes every string that crosses as
-- UTF-8 (binary data fails, and text is decoded and re-encoded), so data-moving modules pass
-- the string's address and length instead and Python copies the bytes once. The address
-- layout is checked at install; if it does not hold, strings cross as latin-1 text.
local S, P, py = ...
local type, format, tonumber, gsub, char, utf8char, error =
  type, string.format, tonumber, string.gsub, string.char, utf8.char, error

local function by_address(s) return tonumber(format("%p", s)), #s end

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end
local function as_latin1(s) return (gsub(s, "[\128-\255]", LATIN1)), #s end

local probe = "wippy\0\255\1 bytes"
local arg = py.check(by_address(probe)) and by_address or as_latin1

local bytes = {}
-- (ref, length) for a string; anything else is an error at the caller's call site.
function bytes.arg(s, level)
  if type(s) ~= "string" then error("string expected, got " .. type(s), (level or 1) + 1) end
  return arg(s)
end
S.bytes = bytes
return bytes
