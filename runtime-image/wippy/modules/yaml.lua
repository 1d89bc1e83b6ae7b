-- The `yaml` module: encode tables to YAML, decode YAML to Lua values.
-- Encoding goes Lua -> JSON text (the json module's encoder: same table rules) -> Python.
local S, P, py = ...
local type, pairs, tostring, utf8len = type, pairs, tostring, utf8.len
local new_error = S.new_error

local yaml = {}

-- options: field_order (keys written first, in that order, at every level), sort_unordered
-- (the other keys sorted; Lua tables have no order of their own, so they always are)
local function encode_options(o)
  if o == nil then return nil end
  if type(o) ~= "table" then return nil, "options must be a table" end
  for k, v in pairs(o) do
    if k == "field_order" then
      if type(v) ~= "table" then return nil, "field_order must be an array of strings" end
      for i = 1, #v do if type(v[i]) ~= "string" then return nil, "field_order must be an array of strings" end end
    elseif k == "sort_unordered" then
      if type(v) ~= "boolean" then return nil, "sort_unordered must be a boolean" end
    else
      return nil, "unknown option '" .. tostring(k) .. "'"
    end
  end
  return o.field_order
end

function yaml.encode(v, options)
  if type(v) ~= "table" then return nil, new_error("Invalid", "table expected", false) end
  local order, oerr = encode_options(options)
  if oerr then return nil, new_error("Invalid", oerr, false) end
  local text, msg
  if S.json_encode then
    text, msg = S.json_encode(v)
    if not text then return nil, new_error("Invalid", "encode failed: " .. msg, false) end
  else
    text, msg = py.to_json(v)
    if not text then return nil, msg end
  end
  return py.encode(text, order)
end

function yaml.decode(s)
  if type(s) ~= "string" then return nil, new_error("Invalid", "string expected", false) end
  if s == "" then return nil, new_error("Invalid", "input cannot be empty", false) end
  if not utf8len(s) then return nil, new_error("Invalid", "input is not valid UTF-8", false) end
  return py.decode(s)
end

return yaml
