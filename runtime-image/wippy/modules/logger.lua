-- The `logger` module: structured logs with fields, child loggers by name or fields.
-- The module value is the root logger; `logger:info(msg, fields)` is the documented call
-- and `logger.info(msg, fields)` works too. Loggers are shared between processes, so an
-- object holds no state of its own (it lives in STATE) and cannot be written to.
local S, P, py = ...
local type, pairs, setmetatable, tostring, error, pcall = type, pairs, setmetatable, tostring, error, pcall
local new_error = S.new_error

local STATE = setmetatable({}, {__mode = "k"})
local methods = {}
local MT = {
  __index = methods,
  __newindex = function() error("a logger cannot be modified", 2) end,
  __name = "logger",
  __tostring = function(l) return "logger" .. (STATE[l].name and (" " .. STATE[l].name) or "") end,
}

local function new_logger(name, fields)
  local l = setmetatable({}, MT)
  STATE[l] = {name = name, fields = fields}
  S.protected[l] = true
  return l
end

local function merge(a, b)
  local r = {}
  if a then for k, v in pairs(a) do r[k] = v end end
  if b then for k, v in pairs(b) do r[k] = v end end
  return r
end

local function emit(st, level, msg, fields)
  local t = S.current()
  local f = merge(st.fields, type(fields) == "table" and fields or nil)
  local ok, data = pcall(S.copy, f)
  py.emit(level, tostring(msg), st.name, ok and data or {}, t and t.fac and t.fac.id, t and t.proc and t.proc.pid)
end

local root = new_logger(nil, nil)

-- `self` is the logger for a colon call; a dot call on the module logs through the root.
local function target(self, a, b)
  local st = STATE[self]
  if st then return st, a, b end
  return STATE[root], self, a
end

for _, lvl in pairs({"debug", "info", "warn", "error"}) do
  methods[lvl] = function(self, msg, fields)
    local st; st, msg, fields = target(self, msg, fields)
    emit(st, lvl, msg, fields)
  end
end

function methods.with(self, fields)
  local st; st, fields = target(self, fields)
  if type(fields) ~= "table" then return nil, new_error("Invalid", "fields must be a table", false) end
  return new_logger(st.name, merge(st.fields, S.copy(fields)))
end

function methods.named(self, name)
  local st; st, name = target(self, name)
  if type(name) ~= "string" or name == "" then
    return nil, new_error("Invalid", "logger name must be a non-empty string", false)
  end
  return new_logger(st.name and (st.name .. "." .. name) or name, st.fields)
end

return root
