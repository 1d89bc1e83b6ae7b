-- The `templates` module: templates.get(set_id) -> Set with :render(name, data?) and :release().
local S, P, py = ...
local type, setmetatable, error = type, setmetatable, error
local new_error = S.new_error

local set_id_of = setmetatable({}, {__mode = "k"})   -- private state: set id, or false once released
local SET = {}
local SET_MT = {__index = SET, __name = "templates.Set", __metatable = false,
                __newindex = function() error("templates.Set is read-only", 2) end}

function SET.render(self, name, data)
  local id = set_id_of[self]
  if id == nil then return nil, new_error("Invalid", "render must be called on a set (set:render)") end
  if id == false then return nil, new_error("Internal", "template set already released") end
  if type(name) ~= "string" or name == "" then return nil, new_error("Invalid", "template name is required") end
  if data ~= nil and type(data) ~= "table" then return nil, new_error("Invalid", "template data must be a table") end
  return py.render(id, name, data)
end

function SET.release(self)
  if set_id_of[self] == nil then return false end
  set_id_of[self] = false
  return true
end

local templates = {}

function templates.get(id)
  if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "template set id is required") end
  local fid = S.full_id(id)
  if not S.check("template.get", fid) then return nil, new_error("PermissionDenied", "permission denied: template.get on " .. fid) end
  local ok, err = py.get(fid)
  if not ok then return nil, err end
  local set = setmetatable({}, SET_MT)
  set_id_of[set] = fid
  return set, nil
end

return templates
