-- The `logger` module: structured logs with fields, child loggers by name or fields.
local S, P, py = ...
local type, pairs, setmetatable, tostring = type, pairs, setmetatable, tostring

local LOGGER = {}
LOGGER.__index = LOGGER

local function merge(a, b)
  local r = {}
  if a then for k, v in pairs(a) do r[k] = v end end
  if b then for k, v in pairs(b) do r[k] = v end end
  return r
end

local function emit(self, level, msg, fields)
  local t = S.current()
  local f = merge(self.fields, type(fields) == "table" and fields or nil)
  local ok, data = pcall(S.copy, f)
  py.emit(level, tostring(msg), self.name, ok and data or {}, t and t.fac and t.fac.id, t and t.proc and t.proc.pid)
end

function LOGGER:debug(msg, fields) emit(self, "debug", msg, fields) end
function LOGGER:info(msg, fields) emit(self, "info", msg, fields) end
function LOGGER:warn(msg, fields) emit(self, "warn", msg, fields) end
function LOGGER:error(msg, fields) emit(self, "error", msg, fields) end
function LOGGER:with(fields) return setmetatable({name = self.name, fields = merge(self.fields, fields)}, LOGGER) end
function LOGGER:named(name)
  local n = self.name and (self.name .. "." .. name) or name
  return setmetatable({name = n, fields = self.fields}, LOGGER)
end

local root = setmetatable({}, LOGGER)
local logger = {}
for _, lvl in pairs({"debug", "info", "warn", "error"}) do
  logger[lvl] = function(msg, fields) emit(root, lvl, msg, fields) end
end
function logger.with(fields) return root:with(fields) end
function logger.named(name) return root:named(name) end
return logger
