-- The `websocket` module (client): websocket.connect(url, opts?) -> Client with send, ping,
-- channel/receive (messages {type, data} on a channel; closed when the connection ends), close.
local S, P, py = ...
local type, setmetatable, error, tostring = type, setmetatable, error, tostring
local mtype, gsub, char, utf8len, utf8char = math.type, string.gsub, string.char, utf8.len, utf8.char
local new_error = S.new_error

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end

local state = setmetatable({}, {__mode = "k"})
-- a connection goes with the process that opened it (GOING_AWAY), as a file or a command does
local own, disown = S.process_resources(function(h) py.abandon(h) end)
local CLIENT = {}
local CLIENT_MT = {__index = CLIENT, __name = "websocket.Client", __metatable = false,
                   __newindex = function() error("websocket.Client is read-only", 2) end}
local function st_of(self)
  local st = state[self]
  if not st then error("expected a websocket client (use client:method)", 3) end
  return st
end

function CLIENT.send(self, data, kind)
  local st = st_of(self)
  if type(data) ~= "string" then return nil, new_error("Invalid", "data must be a string") end
  kind = kind or 1
  if kind ~= 1 and kind ~= 2 then return nil, new_error("Invalid", "type must be websocket.TEXT or websocket.BINARY") end
  if utf8len(data) then return py.send(st.handle, data, false, kind == 2) end
  return py.send(st.handle, (gsub(data, "[\128-\255]", LATIN1)), true, kind == 2)
end
function CLIENT.ping(self) return py.ping(st_of(self).handle) end
function CLIENT.channel(self) return st_of(self).ch end
CLIENT.receive = CLIENT.channel
function CLIENT.close(self, code, reason)
  local st = st_of(self)
  code = code or 1000
  if mtype(code) ~= "integer" or code < 1000 or code > 4999 then return nil, new_error("Invalid", "close code must be 1000-4999") end
  if reason ~= nil and type(reason) ~= "string" then return nil, new_error("Invalid", "reason must be a string") end
  disown(st.handle)
  return py.close(st.handle, code, reason or "")
end

local websocket = {
  TEXT = 1, BINARY = 2,
  TYPE_TEXT = "text", TYPE_BINARY = "binary", TYPE_PING = "ping", TYPE_PONG = "pong", TYPE_CLOSE = "close",
  COMPRESSION = {DISABLED = 0, CONTEXT_TAKEOVER = 1, NO_CONTEXT = 2},
  CLOSE_CODES = {
    NORMAL = 1000, GOING_AWAY = 1001, PROTOCOL_ERROR = 1002, UNSUPPORTED_DATA = 1003, RESERVED = 1004,
    NO_STATUS = 1005, ABNORMAL_CLOSURE = 1006, INVALID_PAYLOAD = 1007, POLICY_VIOLATION = 1008,
    MESSAGE_TOO_BIG = 1009, MANDATORY_EXTENSION = 1010, INTERNAL_ERROR = 1011, SERVICE_RESTART = 1012,
    TRY_AGAIN_LATER = 1013, BAD_GATEWAY = 1014, TLS_HANDSHAKE = 1015,
  },
}

function websocket.connect(url, opts)
  if type(url) ~= "string" then return nil, new_error("Invalid", "url must be a string") end
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  if not S.check("websocket.connect", "") then
    return nil, new_error("PermissionDenied", "websocket connections are not allowed")
  end
  if not S.check("websocket.connect.url", url) then
    return nil, new_error("PermissionDenied", "websocket connection to " .. url .. " is not allowed")
  end
  if not S.current() then return nil, new_error("Internal", "websocket.connect needs a process context") end
  local ch = S.new_channel(0)
  local handle, err = py.connect(url, opts, ch)
  if not handle then return nil, err end
  own(handle)
  local client = setmetatable({}, CLIENT_MT)
  state[client] = {handle = handle, ch = ch}
  return client, nil
end

return websocket
