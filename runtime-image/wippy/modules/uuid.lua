-- The `uuid` module (Wippy's is built on google/uuid). Generation runs in Python;
-- parsing and inspection run here. Accepted input forms, as google/uuid.Parse:
-- "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", the same in braces, with an "urn:uuid:" prefix,
-- or 32 hex digits. Output is always lowercase.
local S, P, py = ...
local type, tonumber, sub, lower, find, gsub, char, utf8len =
  type, tonumber, string.sub, string.lower, string.find, string.gsub, string.char, utf8.len
local new_error = S.new_error

local PATTERN36 = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

-- UUID text -> 32 lowercase hex digits, or nil
local function hex32(s)
  local n = #s
  local body
  if n == 36 then body = s
  elseif n == 38 then
    if sub(s, 1, 1) ~= "{" or sub(s, 38, 38) ~= "}" then return nil end
    body = sub(s, 2, 37)
  elseif n == 45 then
    if lower(sub(s, 1, 9)) ~= "urn:uuid:" then return nil end
    body = sub(s, 10)
  elseif n == 32 then
    if find(s, "^%x+$") then return lower(s) end
    return nil
  else
    return nil
  end
  if not find(body, PATTERN36) then return nil end
  return lower((gsub(body, "-", "")))
end

local function canonical(h)
  return sub(h, 1, 8) .. "-" .. sub(h, 9, 12) .. "-" .. sub(h, 13, 16) .. "-" .. sub(h, 17, 20) .. "-" .. sub(h, 21, 32)
end

local function hexbyte(h, i) return tonumber(sub(h, 2 * i + 1, 2 * i + 2), 16) end  -- i is 0-based

-- Wippy maps google/uuid's variants to these names (Reserved->"Microsoft", and both
-- Microsoft and Future -> "NCS"); kept as is so that code sees the same strings.
local function variant_name(h)
  local b = hexbyte(h, 8)
  if b & 0xc0 == 0x80 then return "RFC4122" end
  if b & 0xe0 == 0xc0 or b & 0xe0 == 0xe0 then return "NCS" end
  return "Microsoft"
end

local function version_of(h) return tonumber(sub(h, 13, 13), 16) end

local function check_input(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "input must be a string", false) end
  local h = hex32(s)
  if not h then return nil, new_error("Invalid", "invalid UUID format", false) end
  return h
end

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8.char(i) end

local function name_based(fn)
  return function(ns, name)
    if type(ns) ~= "string" or type(name) ~= "string" then
      return nil, new_error("Invalid", "namespace and name must be strings", false)
    end
    local h = hex32(ns)
    if not h then return nil, new_error("Invalid", "invalid namespace UUID", false) end
    if utf8len(name) then return fn(h, name, false), nil end
    return fn(h, (gsub(name, "[\128-\255]", LATIN1)), true), nil
  end
end

local uuid = {}

function uuid.v1() return py.v1(), nil end
function uuid.v4() return py.v4(), nil end
function uuid.v7() return py.v7(), nil end
uuid.v3 = name_based(py.v3)
uuid.v5 = name_based(py.v5)

function uuid.validate(s)
  if type(s) ~= "string" then return false, nil end
  return hex32(s) ~= nil, nil
end

function uuid.version(s)
  local h, err = check_input(s)
  if not h then return nil, err end
  return version_of(h), nil
end

function uuid.variant(s)
  local h, err = check_input(s)
  if not h then return nil, err end
  return variant_name(h), nil
end

function uuid.parse(s)
  local h, err = check_input(s)
  if not h then return nil, err end
  local v = version_of(h)
  local info = {version = v, variant = variant_name(h)}
  if v == 1 then
    -- 60-bit count of 100ns intervals since 1582-10-15
    local t = tonumber(sub(h, 1, 8), 16) | (tonumber(sub(h, 9, 12), 16) << 32)
              | ((tonumber(sub(h, 13, 16), 16) & 0xfff) << 48)
    local q = (t - 122192928000000000)
    info.timestamp = q >= 0 and q // 10000000 or -((-q) // 10000000)
    -- as google/uuid's NodeID(): the 6 raw node bytes
    local node = {}
    for i = 10, 15 do node[#node + 1] = char(hexbyte(h, i)) end
    info.node = table.concat(node)
  elseif v == 7 then
    info.timestamp = tonumber(sub(h, 1, 12), 16) // 1000
  end
  return info, nil
end

function uuid.format(s, fmt)
  local h, err = check_input(s)
  if not h then return nil, err end
  if type(fmt) ~= "string" then fmt = "standard" end
  if fmt == "standard" then return canonical(h), nil end
  if fmt == "simple" then return h, nil end
  if fmt == "urn" then return "urn:uuid:" .. canonical(h), nil end
  return nil, new_error("Invalid", "unsupported format", false)
end

return uuid
