-- The `yaml` module: encode tables to YAML, decode YAML to Lua values.
-- Encoding goes Lua -> JSON text (the json module's encoder: same table rules) -> Python.
local S, P, py = ...
local type, utf8len = type, utf8.len
local new_error = S.new_error

local yaml = {}

function yaml.encode(v)
  if type(v) ~= "table" then return nil, new_error("Invalid", "table expected", false) end
  local text, msg
  if S.json_encode then
    text, msg = S.json_encode(v)
    if not text then return nil, new_error("Invalid", "encode failed: " .. msg, false) end
  else
    text, msg = py.to_json(v)
    if not text then return nil, msg end
  end
  return py.encode(text)
end

function yaml.decode(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "string expected", false) end
  if s == "" then return nil, new_error("Invalid", "input cannot be empty", false) end
  if not utf8len(s) then return nil, new_error("Invalid", "input is not valid UTF-8", false) end
  return py.decode(s)
end

return yaml
