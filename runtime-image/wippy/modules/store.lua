-- The `store` module: store.get(id) -> Store with get/set(k, v, ttl_seconds?)/has/delete/release.
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error

local store = {}

local full_id = S.full_id

local STORE = {__name = "store.Store"}
STORE.__index = STORE
local function live(self)
  if self._released then return new_error("Invalid", "store handle " .. self._id .. " was released") end
end
function STORE:get(key)
  local e = live(self); if e then return nil, e end
  return py.sget(self._id, key)
end
function STORE:set(key, value, ttl)
  local e = live(self); if e then return nil, e end
  if ttl ~= nil and type(ttl) ~= "number" then return nil, new_error("Invalid", "store: ttl must be a number of seconds") end
  return py.sset(self._id, key, value, ttl)
end
function STORE:has(key)
  local e = live(self); if e then return nil, e end
  return py.shas(self._id, key)
end
function STORE:delete(key)
  local e = live(self); if e then return nil, e end
  return py.sdelete(self._id, key)
end
function STORE:release() self._released = true; return true end
function STORE:type() return self._type end

function store.get(id)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "store.get: store id must be a non-empty string") end
  local t, err = py.get(fid)
  if t == nil then return nil, err end
  return setmetatable({_id = fid, _type = t}, STORE)
end

return store
