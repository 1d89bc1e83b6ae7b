-- The `payload` global: payload.new(v) wraps a value as a Payload (what messages and futures
-- carry); payload.format names the formats; Payload:transcode(fmt) checks that the value can
-- be encoded in fmt and tags it, data()/unmarshal() return the value.
local S, P, py = ...
local type, setmetatable, tostring, pcall, rawget = type, setmetatable, tostring, pcall, rawget
local new_error, copy, PAYLOAD = S.new_error, S.copy, S.PAYLOAD
-- the payload class keeps its methods in its __index table (S.class); define them there
local METHODS = rawget(PAYLOAD, "__index")

local FORMAT = {
  JSON = "json/plain", YAML = "yaml/plain", STRING = "text/plain", BYTES = "application/octet-stream",
  MSGPACK = "application/msgpack", LUA = "lua/any", GOLANG = "golang/any", ERROR = "golang/error",
}

local function fail(fmt, why) return nil, new_error("Internal", "transcode to " .. fmt .. ": " .. why) end

-- encoders only check that the value can be represented (the value itself travels as is)
local CHECK = {
  [FORMAT.JSON] = function(v)
    local _, err = S.modules.json.encode(v)
    return err
  end,
  [FORMAT.YAML] = function(v)
    local _, err = S.modules.yaml.encode(v)
    return err
  end,
  [FORMAT.MSGPACK] = function(v)
    local _, err = py.to_msgpack(v)
    return err
  end,
  [FORMAT.STRING] = function(v)
    local t = type(v)
    if t ~= "string" and t ~= "number" and t ~= "boolean" then return "a " .. t .. " is not text" end
  end,
  [FORMAT.BYTES] = function(v)
    if type(v) ~= "string" then return "a " .. type(v) .. " is not bytes" end
  end,
  [FORMAT.LUA] = function() end,
}

function METHODS:transcode(fmt)
  if type(fmt) ~= "string" then return nil, new_error("Invalid", "format must be a string (payload.format.*)") end
  local check = CHECK[fmt]
  if not check then return fail(fmt, "unsupported format") end
  local v = self.v
  if S.is_error(v) and fmt ~= FORMAT.LUA then return fail(fmt, "an error payload cannot be encoded") end
  local ok, err = pcall(check, v)
  if not ok then return fail(fmt, tostring(err)) end
  if err then return fail(fmt, S.is_error(err) and err:message() or tostring(err)) end
  local value = v
  if fmt == FORMAT.STRING and type(v) ~= "string" then value = tostring(v) end
  return setmetatable({v = value, format = fmt}, PAYLOAD), nil
end

function METHODS:get_format()
  if self.format then return self.format end
  if S.is_error(self.v) then return FORMAT.ERROR end
  return FORMAT.LUA
end

-- one value on success: `process.send(to, topic, msg:payload():data())` then sends that value,
-- not a {value, nil} pair
function METHODS:data()
  local ok, v = pcall(copy, self.v)
  if not ok then return nil, new_error("Internal", "payload data: " .. tostring(v)) end
  return v
end
METHODS.unmarshal = METHODS.data

return {
  format = FORMAT,
  new = function(v) return S.new_payload(S.copy(v)) end,
}
