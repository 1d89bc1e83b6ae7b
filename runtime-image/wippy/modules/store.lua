-- The `store` module: store.get(id) -> Store with get/set(k, v, ttl_seconds?)/has/delete/release,
-- entry/put (versions, conditional writes)/list (paged, in key order)/info, and the
-- store.backend / store.consistency constants. Each call is checked against the security policy
-- (store.get, store.info, store.key.get/set/delete/has/list on the store id).
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error

local store = {
  backend = {MEMORY = "memory", SQL = "sql", KV_RAFT = "kv.raft", KV_CRDT = "kv.crdt", UNKNOWN = "unknown"},
  consistency = {LINEARIZABLE = "linearizable", EVENTUAL = "eventual", LOCAL = "local", UNKNOWN = "unknown"},
}

local full_id = S.full_id

local STORE = {__name = "store.Store"}
STORE.__index = STORE
local function live(self, action, attrs)
  if self._released then return new_error("Invalid", "store handle " .. self._id .. " was released") end
  if not S.check(action, self._id, attrs) then return S.denied(action, self._id) end
end
function STORE:get(key)
  local e = live(self, "store.key.get", {key = key}); if e then return nil, e end
  return py.sget(self._id, key)
end
function STORE:set(key, value, ttl)
  local e = live(self, "store.key.set", {key = key}); if e then return nil, e end
  if ttl ~= nil and type(ttl) ~= "number" then return nil, new_error("Invalid", "store: ttl must be a number of seconds") end
  return py.sset(self._id, key, value, ttl)
end
function STORE:has(key)
  local e = live(self, "store.key.has", {key = key}); if e then return nil, e end
  return py.shas(self._id, key)
end
function STORE:delete(key)
  local e = live(self, "store.key.delete", {key = key}); if e then return nil, e end
  return py.sdelete(self._id, key)
end
function STORE:entry(key)
  local e = live(self, "store.key.get", {key = key}); if e then return nil, e end
  return py.sentry(self._id, key)
end
function STORE:put(key, value, opts)
  local e = live(self, "store.key.set", {key = key}); if e then return nil, e end
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "store: put options must be a table") end
  opts = opts or {}
  if opts.ttl ~= nil and type(opts.ttl) ~= "number" then return nil, new_error("Invalid", "store: ttl must be a number of seconds") end
  if opts.only_if_absent ~= nil and type(opts.only_if_absent) ~= "boolean" then
    return nil, new_error("Invalid", "store: only_if_absent must be a boolean")
  end
  return py.sput(self._id, key, value, opts.ttl, opts.only_if_absent == true, opts.if_version)
end
function STORE:list(opts)
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "store: list options must be a table") end
  opts = opts or {}
  local e = live(self, "store.key.list", {prefix = opts.prefix}); if e then return nil, e end
  return py.slist(self._id, opts.prefix, opts.after, opts.limit)
end
function STORE:info()
  local e = live(self, "store.info"); if e then return nil, e end
  return py.sinfo(self._id)
end
function STORE:release() self._released = true; return true end
function STORE:type() return self._type end

function store.get(id)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "store.get: store id must be a non-empty string") end
  if not S.check("store.get", fid) then return nil, S.denied("store.get", fid) end
  local t, err = py.get(fid)
  if t == nil then return nil, err end
  return setmetatable({_id = fid, _type = t}, STORE)
end

return store
