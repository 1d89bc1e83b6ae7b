-- The `ctx` module: context values handed down by callers and spawners.
local S = ...
local copy, new_error = S.copy, S.new_error

local ctx = {}
function ctx.get(key)
  local task = S.current()
  local values = task and task.ctx
  local v = values and values[key]
  if v == nil then return nil, new_error("NotFound", "context value '" .. tostring(key) .. "' not found") end
  return copy(v)
end
function ctx.all()
  local task = S.current()
  return copy(task and task.ctx or {})
end
return ctx
