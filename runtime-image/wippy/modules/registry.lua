-- The `registry` module: read entries, take snapshots, build and apply changesets, roll back.
local S, P, py = ...
local type, setmetatable, tostring, error = type, setmetatable, tostring, error
local new_error, is_error = S.new_error, S.is_error

local registry = {}

local function parent_of(id)
  for _, v in ipairs(py.versions()) do
    if v.id == id then return v.parent end
  end
end

local VERSION = {}
VERSION.__index = VERSION
VERSION.__copy_keep = true
local function version_obj(id, parent) return setmetatable({_id = id, _parent = parent}, VERSION) end
function VERSION:id() return self._id end
function VERSION:previous()
  if not self._parent then return nil end
  return version_obj(self._parent, parent_of(self._parent))
end
-- the version applied after this one (the newest child, if the history branched)
function VERSION:next()
  local found
  for _, v in ipairs(py.versions()) do
    if v.parent == self._id and (found == nil or v.id > found.id) then found = v end
  end
  if found then return version_obj(found.id, found.parent) end
  return nil
end
function VERSION:string() return tostring(self._id) end
VERSION.__tostring = VERSION.string

local function version_id(v)
  if type(v) == "table" and getmetatable(v) == VERSION then return v._id end
  return v
end


-- changesets
local CHANGES = {}
CHANGES.__index = CHANGES
local function changes(base_version) return setmetatable({_ops = {}, _base = base_version}, CHANGES) end
local function entry_arg(e)
  if type(e) ~= "table" then error("entry must be a table {id=, kind=, meta=, data=}", 3) end
  return e
end
function CHANGES:create(e) self._ops[#self._ops + 1] = {kind = "entry.create", entry = entry_arg(e)}; return self end
function CHANGES:update(e) self._ops[#self._ops + 1] = {kind = "entry.update", entry = entry_arg(e)}; return self end
function CHANGES:delete(id)
  if type(id) == "table" then id = id.id or (id.ns .. ":" .. id.name) end
  self._ops[#self._ops + 1] = {kind = "entry.delete", id = id}
  return self
end
function CHANGES:ops() return S.copy(self._ops) end
function CHANGES:apply()
  if #self._ops == 0 then return nil, new_error("Invalid", "empty changeset") end
  for _, op in ipairs(self._ops) do
    local id = op.id or op.entry.id or ((op.entry.namespace or "") .. ":" .. (op.entry.name or ""))
    if not S.check("registry.apply", id) then return nil, S.denied("registry.apply", id) end
  end
  local v, err = py.apply(self._ops, self._base)
  if v == nil then return nil, err end
  return version_obj(v, self._base)
end

-- Reads honour `registry.get`: a denied get is an error, denied entries are left out of lists.
local function readable(list)
  if type(list) ~= "table" then return list end
  local out = {}
  for _, e in ipairs(list) do
    if S.check("registry.get", e.id) then out[#out + 1] = e end
  end
  return out
end
local function read_one(id, version)
  if type(id) ~= "string" then return nil, new_error("Invalid", "entry id must be a string", false) end
  if not S.check("registry.get", id) then return nil, S.denied("registry.get", id) end
  return py.get(id, version)
end
local function listed(list, err)
  if list == nil then return nil, err end
  return readable(list)
end

-- snapshots pin a version
local SNAP = {}
SNAP.__index = SNAP
local function snapshot(v) return setmetatable({_v = v}, SNAP) end
function SNAP:version() return version_obj(self._v, parent_of(self._v)) end
function SNAP:entries() return listed(py.entries(self._v)) end
function SNAP:get(id) return read_one(id, self._v) end
function SNAP:find(f) return listed(py.find(f, self._v)) end
function SNAP:namespace(ns) return listed(py.namespace(self._v, ns)) end
function SNAP:changes() return changes(self._v) end

function registry.get(id) return read_one(id) end
function registry.find(f)
  if f ~= nil and type(f) ~= "table" then return nil, new_error("Invalid", "filter must be a table", false) end
  return listed(py.find(f))
end
function registry.parse_id(s) return py.parse_id(s) end
function registry.snapshot() return snapshot(py.current_version()) end
local function snapshot_at(v)
  local id = version_id(v)
  id = type(id) == "number" and math.tointeger(id) or id
  if math.type(id) ~= "integer" then return nil, new_error("Invalid", "version must be a Version or an integer id", false) end
  if parent_of(id) == nil and not py.has_version(id) then
    return nil, new_error("NotFound", "version " .. tostring(id) .. " not found", false)
  end
  return snapshot(id)
end
function registry.snapshot_at(v) return snapshot_at(v) end
function registry.current_version()
  local id = py.current_version()
  return version_obj(id, parent_of(id))
end
function registry.versions()
  local out = {}
  for i, v in ipairs(py.versions()) do out[i] = version_obj(v.id, v.parent) end
  return out
end
function registry.apply_version(v)
  local id = version_id(v)
  if not S.check("registry.apply_version", tostring(id)) then return nil, S.denied("registry.apply_version", id) end
  return py.apply_version(id)
end
function registry.build_delta(a, b) return py.build_delta(a, b) end

-- History is an object: its methods are called with ':'
local HISTORY = {}
local HISTORY_MT = {__index = HISTORY, __name = "registry.History"}
function HISTORY:versions() return registry.versions() end
function HISTORY:get_version(id)
  id = version_id(id)
  for _, v in ipairs(py.versions()) do if v.id == id then return version_obj(v.id, v.parent) end end
  return nil, new_error("NotFound", "version " .. tostring(id) .. " not found", false)
end
function HISTORY:snapshot_at(v) return snapshot_at(v) end
function registry.history() return setmetatable({}, HISTORY_MT) end

return registry
