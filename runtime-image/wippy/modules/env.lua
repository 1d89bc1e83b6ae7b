-- The `env` module: read (and overlay) the node's environment variables.
local S, P, py = ...
local type, tostring, math_type, utf8len = type, tostring, math.type, utf8.len
local new_error = S.new_error

local function str_arg(v, what)
  local t = type(v)
  if t == "number" then v = tostring(v)
  elseif t ~= "string" then return nil, new_error("Invalid", what .. " must be a string", false) end
  if v == "" then return nil, new_error("Invalid", "empty " .. what, false) end
  if not utf8len(v) then return nil, new_error("Invalid", what .. " is not valid UTF-8", false) end
  return v
end

local env = {}

function env.get(key)
  local k, err = str_arg(key, "key")
  if not k then return nil, err end
  return py.get(k)
end

function env.set(key, value)
  local k, err = str_arg(key, "key")
  if not k then return nil, err end
  local v
  v, err = str_arg(value, "value")
  if not v then return nil, err end
  return py.set(k, v)
end

function env.get_all()
  return py.get_all(), nil
end

return env
