-- The `pg` module: process groups of a pg.scope (cluster/pg.py), across the app's pods.
local S, P, py = ...
local type, select, setmetatable, tostring = type, select, setmetatable, tostring
local new_error, copy = S.new_error, S.copy

local pg = {}

local function self_proc()
  local task = S.current()
  return task and task.proc
end

local function check(action, resource)
  if not S.check(action, resource) then return S.denied(action, resource) end
end

local INST = {}
INST.__index = INST
local SUB = {}
SUB.__index = SUB

local function live(self)
  if self._released then return new_error("Invalid", "pg instance released") end
end

local function each_group(groups, action)
  local list = type(groups) == "table" and groups or {groups}
  if type(groups) ~= "string" and type(groups) ~= "table" then return nil, new_error("Invalid", "group is required") end
  if #list == 0 then return nil, new_error("Invalid", "group is required") end
  for _, g in ipairs(list) do
    if type(g) ~= "string" or g == "" then return nil, new_error("Invalid", "group must be a non-empty string") end
    local denied = check(action, g)
    if denied then return nil, denied end
  end
  return list
end

function pg.open(id)
  if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "scope id is required") end
  id = S.resolve_id(id, "scope id")
  local denied = check("pg.open", id)
  if denied then return nil, denied end
  local me = self_proc()
  if not me then return nil, new_error("Invalid", "pg.open needs a calling process") end
  local ok, err = py.open(id)
  if not ok then return nil, err end
  me.named = true   -- the node tells pg when the process exits: it leaves its groups
  return setmetatable({_id = id, _pid = me.pid, _released = false}, INST)
end

function INST:join(groups)
  local e = live(self); if e then return nil, e end
  local list, err = each_group(groups, "pg.join")
  if not list then return nil, err end
  return py.join(self._id, self._pid, list)
end

function INST:leave(groups)
  local e = live(self); if e then return nil, e end
  local list, err = each_group(groups, "pg.leave")
  if not list then return nil, err end
  return py.leave(self._id, self._pid, list)
end

local function members(self, group, action, local_only)
  local e = live(self); if e then return nil, e end
  if type(group) ~= "string" or group == "" then return nil, new_error("Invalid", "group is required") end
  local denied = check(action, group)
  if denied then return nil, denied end
  return py.members(self._id, group, local_only)
end
function INST:get_members(group) return members(self, group, "pg.get_members", false) end
function INST:get_local_members(group) return members(self, group, "pg.get_local_members", true) end

local function which(self, action, local_only)
  local e = live(self); if e then return nil, e end
  local denied = check(action, self._id)
  if denied then return nil, denied end
  return py.which(self._id, local_only)
end
function INST:which_groups() return which(self, "pg.which_groups", false) end
function INST:which_local_groups() return which(self, "pg.which_local_groups", true) end

local function broadcast(self, action, local_only, group, topic, ...)
  local e = live(self); if e then return nil, e end
  if type(group) ~= "string" or group == "" then return nil, new_error("Invalid", "group is required") end
  if type(topic) ~= "string" or topic == "" then return nil, new_error("Invalid", "topic is required") end
  if topic:sub(1, 1) == "@" then return nil, new_error("Invalid", "topic '" .. topic .. "' is reserved") end
  local denied = check(action, group)
  if denied then return nil, denied end
  local n = select("#", ...)
  local ok, value = pcall(copy, n <= 1 and (...) or table.pack(...))
  if not ok then return nil, new_error("Invalid", tostring(value)) end
  return py.broadcast(self._id, group, topic, self._pid, value, local_only)
end
function INST:broadcast(group, topic, ...) return broadcast(self, "pg.broadcast", false, group, topic, ...) end
function INST:broadcast_local(group, topic, ...) return broadcast(self, "pg.broadcast_local", true, group, topic, ...) end

local function subscribe(self, group)
  local me = self_proc()
  if not me or me.pid ~= self._pid then return nil, nil, new_error("Invalid", "a pg instance serves the process that opened it") end
  local topic, snapshot = py.subscribe(self._id, self._pid, group)
  if not topic then return nil, nil, snapshot end
  local ch = S.new_channel(math.huge)
  me.listeners = me.listeners or {}
  me.listeners[topic] = {ch = ch, message = false}
  return setmetatable({_scope = self._id, _topic = topic, _ch = ch, _proc = me}, SUB), snapshot
end

function INST:monitor(group)
  local e = live(self); if e then return nil, nil, e end
  if type(group) ~= "string" or group == "" then return nil, nil, new_error("Invalid", "group is required") end
  local denied = check("pg.monitor", group)
  if denied then return nil, nil, denied end
  return subscribe(self, group)
end

function INST:events()
  local e = live(self); if e then return nil, nil, e end
  local denied = check("pg.events", self._id)
  if denied then return nil, nil, denied end
  return subscribe(self, nil)
end

function INST:release()
  self._released = true
  return true
end

function SUB:channel() return self._ch end

function SUB:close(opts)
  if self._closed then return true end
  self._closed = true
  py.unsubscribe(self._scope, self._topic)
  local listeners = self._proc.listeners
  if listeners then listeners[self._topic] = nil end
  if not (opts and opts.flush) then self._ch:close() end
  return true
end

return pg
