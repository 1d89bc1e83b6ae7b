-- The `events` module: the node-wide event bus.
-- events.subscribe(system_pattern, kind_pattern?) -> Subscription (:channel(), :close());
-- received values are {system, kind, path, data}. events.send(system, kind, path, data?).
-- Patterns split on '.': '*' one segment, '**' any number, '(a|b)' alternation.
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error

local events = {}

local SUB = {__name = "events.Subscription"}
SUB.__index = SUB
function SUB:channel() return self._ch end
function SUB:close()
  if self._closed then return true end
  self._closed = true
  py.unsubscribe(self._sid)
  if self._proc.listeners then self._proc.listeners[self._topic] = nil end
  self._ch:close()
  return true
end

function events.subscribe(system, kind)
  local task = S.current()
  local proc = task and task.proc
  if not proc then return nil, new_error("Invalid", "events.subscribe() outside of a process") end
  if type(system) ~= "string" then return nil, new_error("Invalid", "events.subscribe: system pattern must be a string") end
  if kind ~= nil and type(kind) ~= "string" then return nil, new_error("Invalid", "events.subscribe: kind pattern must be a string") end
  local topic = py.topic()
  local ch = S.new_channel(math.huge)
  local sid, err = py.subscribe(proc.pid, topic, system, kind)
  if sid == nil then return nil, err end
  proc.listeners = proc.listeners or {}
  proc.listeners[topic] = {ch = ch, message = false}
  return setmetatable({_sid = sid, _ch = ch, _topic = topic, _proc = proc}, SUB)
end

function events.send(system, kind, path, data)
  return py.send(system, kind, path, data)
end

return events
