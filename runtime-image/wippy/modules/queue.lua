-- The `queue` module: queue.publish(id, data, headers?) -> true; queue.message() inside a
-- consumer's function -> Message (id, header, headers, attempts, ack, nack); queue.info(id).
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error

local queue = {}
local CTX_KEY = "@queue.message"

local full_id = S.full_id

function queue.publish(id, data, headers)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "queue.publish: queue id must be a non-empty string") end
  if data == nil then return nil, new_error("Invalid", "queue.publish: message body must not be nil") end
  if headers ~= nil and type(headers) ~= "table" then return nil, new_error("Invalid", "queue.publish: headers must be a table") end
  local mid, err = py.publish(fid, data, headers)
  if mid == nil then return nil, err end
  return true
end

function queue.info(id)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "queue.info: queue id must be a non-empty string") end
  return py.info(fid)
end

local MSG = {__name = "queue.Message"}
MSG.__index = MSG
function MSG:id() return self._m.id end
function MSG:header(k) return self._m.headers and self._m.headers[k] end
function MSG:headers() return S.copy(self._m.headers or {}) end
function MSG:attempts() return self._m.attempts end
function MSG:queue() return self._m.queue end
function MSG:ack() return py.ack(self._m.token) end
function MSG:nack() return py.nack(self._m.token) end

function queue.message()
  local task = S.current()
  local m = task and task.ctx and task.ctx[CTX_KEY]
  if not m then return nil, new_error("NotFound", "queue.message() called outside of a queue consumer") end
  return setmetatable({_m = m}, MSG)
end

return queue
