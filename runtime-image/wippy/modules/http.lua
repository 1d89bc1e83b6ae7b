-- The `http` module: inside an http.endpoint's function, the request being served and its
-- response. The request is the one whose id the calling task carries in its context, so a
-- function called from the handler (funcs.call) sees the same request.
local S, P, py = ...
local type, tostring, setmetatable, pairs, ipairs, tonumber = type, tostring, setmetatable, pairs, ipairs, tonumber
local gsub, lower, find, concat, utf8len, char, utf8char = string.gsub, string.lower, string.find, table.concat, utf8.len, string.char, utf8.char
local new_error, copy, current = S.new_error, S.copy, S.current
local json = S.modules.json

local CTX_KEY = "http.request_id"

local http = {}
http.STATUS = {
  CONTINUE = 100, OK = 200, CREATED = 201, ACCEPTED = 202, NO_CONTENT = 204, PARTIAL_CONTENT = 206,
  MOVED_PERMANENTLY = 301, FOUND = 302, SEE_OTHER = 303, NOT_MODIFIED = 304,
  TEMPORARY_REDIRECT = 307, PERMANENT_REDIRECT = 308,
  BAD_REQUEST = 400, UNAUTHORIZED = 401, PAYMENT_REQUIRED = 402, FORBIDDEN = 403, NOT_FOUND = 404,
  METHOD_NOT_ALLOWED = 405, NOT_ACCEPTABLE = 406, REQUEST_TIMEOUT = 408, CONFLICT = 409, GONE = 410,
  PAYLOAD_TOO_LARGE = 413, UNSUPPORTED_MEDIA_TYPE = 415, UNPROCESSABLE = 422, UNPROCESSABLE_ENTITY = 422,
  TOO_MANY_REQUESTS = 429,
  INTERNAL_ERROR = 500, INTERNAL_SERVER_ERROR = 500, NOT_IMPLEMENTED = 501, BAD_GATEWAY = 502,
  SERVICE_UNAVAILABLE = 503, GATEWAY_TIMEOUT = 504, VERSION_NOT_SUPPORTED = 505,
}
-- the error type names of lua/http/http.md
http.ERROR = {PARSE_FAILED = "PARSE_FAILED", INVALID_STATE = "INVALID_STATE", WRITE_FAILED = "WRITE_FAILED",
              STREAM_ERROR = "STREAM_ERROR"}
http.CONTENT = {
  JSON = "application/json", FORM = "application/x-www-form-urlencoded", MULTIPART = "multipart/form-data",
  TEXT = "text/plain", HTML = "text/html", STREAM = "application/octet-stream", SSE = "text/event-stream",
}
http.TRANSFER = {CHUNKED = "chunked", SSE = "sse"}
http.METHOD = {GET = "GET", POST = "POST", PUT = "PUT", PATCH = "PATCH", DELETE = "DELETE", HEAD = "HEAD", OPTIONS = "OPTIONS"}

local function request_id()
  local task = current()
  local ctx = task and task.ctx
  return ctx and ctx[CTX_KEY]
end

-- Lua strings are bytes: one that is not UTF-8 crosses to Python as latin-1 text
local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end
local function to_py(s)
  if utf8len(s) then return s, false end
  return (gsub(s, "[\128-\255]", LATIN1)), true
end

local function media(ct) return lower((gsub(ct or "", "%s*;.*$", ""))) end

---------------------------------------------------------------------------
-- request
---------------------------------------------------------------------------
local REQ = {}
REQ.__index = REQ
REQ.__name = "http.Request"

function REQ:method() return self._d.method end
function REQ:path() return self._d.path end
function REQ:host() return self._d.host end
function REQ:remote_addr() return self._d.remote_addr end
function REQ:content_type() return self._d.content_type end
function REQ:content_length() return self._d.content_length end
function REQ:has_body() return self._d.has_body end
function REQ:id() return self._d.request_id end
function REQ:param(name) return self._d.params[name] end
function REQ:params() return copy(self._d.params) end
function REQ:header(name)
  if type(name) ~= "string" then return nil end
  return py.header(self._id, name)
end
function REQ:headers() return py.headers(self._id) end

local function query_table(self)
  local q = self._q
  if q == nil then
    q = py.query(self._id)
    self._q = q
  end
  return q
end
function REQ:query(name)
  local values = query_table(self)[name]
  return values and values[1]
end
-- a key given more than once: its values joined with commas
function REQ:query_params()
  local r = {}
  for k, v in pairs(query_table(self)) do r[k] = concat(v, ",") end
  return r
end
-- The body is still on the connection when the handler starts: body() reads what is left of it
-- (once; later calls return the same string), stream() reads it as it arrives, bounded by the
-- max_body and timeout of http.request and by the service's own limits.
function REQ:body()
  local b = self._body
  if b == nil then
    local err
    b, err = py.body(self._id, self._max, self._timeout)
    if b == nil then return nil, err end
    self._body = b
  end
  return b
end
function REQ:body_json()
  local b, err = self:body()
  if b == nil then return nil, err end
  if b == "" then return nil, new_error("Invalid", "request has no body") end
  local v, derr = json.decode(b)
  if derr then return nil, new_error("Invalid", "request body is not valid JSON: " .. tostring(derr:message())) end
  return v
end

-- not seekable: what was read is gone; size is the Content-Length (-1 when not sent)
local BODY = S.stream.class("http.Body", {
  read = function(h, n) return py.read(h.id, n, h.max, h.timeout) end,
  size = function(h) return h.size end,
})
function REQ:stream()
  if self._body ~= nil then return S.stream.of_string(self._body) end
  return S.stream.new(BODY, {id = self._id, max = self._max, timeout = self._timeout, size = self._d.content_length})
end

-- uploaded files of parse_multipart: in memory or in a temporary file (http/multipart.py) until
-- the request ends; each file:stream() is a seekable stream of its own over it
local FILE = {}
FILE.__index = FILE
FILE.__name = "http.File"
function FILE:name() return self._f.filename end
function FILE:size() return self._f.size end
function FILE:header(name)
  if type(name) ~= "string" then return nil end
  return self._f.headers[lower(name)]
end
local UPLOAD = S.stream.class("http.FileStream", {
  read = function(h, n)
    local data, err = py.upload_read(h.rid, h.index, h.p, n)
    if data then h.p = h.p + #data end
    return data, err
  end,
  seek = function(h, whence, offset)
    local p = (whence == "set" and 0 or whence == "cur" and h.p or h.size) + offset
    if p < 0 then return nil, new_error("Invalid", "seek before the start of the stream") end
    h.p = p
    return p
  end,
  size = function(h) return h.size end,
  tell = function(h) return h.p end,
})
function FILE:stream()
  return S.stream.new(UPLOAD, {rid = self._rid, index = self._f.index, size = self._f.size, p = 0})
end

-- max_memory: bytes of uploaded files held in memory for the whole form (default 32 MiB); past it
-- files go to temporary files
local MAX_MEMORY = 32 * 1024 * 1024
function REQ:parse_multipart(max_memory)
  if max_memory ~= nil and (math.type(max_memory) ~= "integer" or max_memory <= 0) then
    return nil, new_error("Invalid", "max_memory must be a positive integer")
  end
  local form, err = py.multipart(self._id, self._max, self._timeout, max_memory or MAX_MEMORY)
  if form == nil then return nil, err end
  for _, list in pairs(form.files) do
    for i, f in ipairs(list) do list[i] = setmetatable({_f = f, _rid = self._id}, FILE) end
  end
  return form
end
function REQ:is_content_type(ct) return media(self._d.content_type) == media(ct) end
function REQ:accepts(ct)
  local accept = py.header(self._id, "Accept")
  if accept == nil or accept == "" then return true end
  local want = media(ct)
  local major = want:match("^([^/]+)/")
  for part in accept:gmatch("[^,]+") do
    local m = media(part)
    if m == want or m == "*/*" or (major and m == major .. "/*") then return true end
  end
  return false
end

-- options: max_body (bytes; a body larger is refused, as one over the service's max_body) and
-- timeout (ms; how long one body read may wait, default 5 min; never past the service's read timeout)
local DEFAULT_TIMEOUT = 300000
function http.request(opts)
  local id = request_id()
  if id == nil then return nil, new_error("Internal", "not inside an HTTP request handler") end
  local max_body, timeout = 0, DEFAULT_TIMEOUT
  if opts ~= nil then
    if type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
    for k, v in pairs(opts) do
      if k ~= "timeout" and k ~= "max_body" then return nil, new_error("Invalid", "unknown option " .. tostring(k)) end
      if math.type(v) ~= "integer" or v < 0 then return nil, new_error("Invalid", k .. " must be a non-negative integer") end
    end
    max_body, timeout = opts.max_body or 0, opts.timeout or DEFAULT_TIMEOUT
  end
  local d, err = py.request(id)
  if d == nil then return nil, err end
  if max_body > 0 and d.content_length > max_body then
    return nil, new_error("Invalid", "request body of " .. d.content_length .. " bytes is larger than max_body (" .. max_body .. ")")
  end
  return setmetatable({_id = id, _d = d, _max = max_body, _timeout = timeout}, REQ)
end

---------------------------------------------------------------------------
-- response: setters return nil, or an error
---------------------------------------------------------------------------
local RES = {}
RES.__index = RES
RES.__name = "http.Response"

local function check(ok, err) if ok == nil then return err end end

function RES:set_status(code)
  if type(code) ~= "number" then return new_error("Invalid", "status must be a number") end
  return check(py.set_status(self._id, code))
end
function RES:set_header(name, value) return check(py.set_header(self._id, name, tostring(value))) end
function RES:set_content_type(ct)
  self._ct = true
  return check(py.set_header(self._id, "Content-Type", tostring(ct)))
end
function RES:set_transfer(mode)
  if mode ~= "chunked" and mode ~= "sse" then
    return new_error("Invalid", "transfer must be http.TRANSFER.CHUNKED or http.TRANSFER.SSE")
  end
  local err = check(py.set_transfer(self._id, mode))
  if err then return err end
  self._stream = true
  if mode == "sse" then
    py.set_header(self._id, "Content-Type", "text/event-stream")
    py.set_header(self._id, "Cache-Control", "no-cache")
    self._ct = true
  end
end

local function write(self, s)
  local data, latin1 = to_py(s)
  if self._stream then return check(py.write_stream(self._id, data, latin1)) end
  return check(py.write(self._id, data, latin1))
end

function RES:write(s)
  local t = type(s)
  if t == "number" then s = tostring(s)
  elseif t ~= "string" then return new_error("Invalid", "write expects a string, got " .. t) end
  return write(self, s)
end
function RES:write_json(v)
  local text, err = json.encode(v)
  if text == nil then return err end
  if not self._ct then
    self._ct = true
    local e = check(py.set_header(self._id, "Content-Type", "application/json"))
    if e then return e end
  end
  return write(self, text)
end
function RES:flush()
  if not self._stream then return nil end
  return check(py.write_stream(self._id, nil, false))
end
function RES:write_event(ev)
  if type(ev) ~= "table" then return new_error("Invalid", "write_event expects a table {name, data, id, retry}") end
  if not self._stream then
    local err = self:set_transfer("sse")
    if err then return err end
  end
  local out, n = {}, 0
  local name = ev.name or ev.event
  if ev.id ~= nil then n = n + 1; out[n] = "id: " .. tostring(ev.id) end
  if name ~= nil then n = n + 1; out[n] = "event: " .. tostring(name) end
  if ev.retry ~= nil then n = n + 1; out[n] = "retry: " .. tostring(tonumber(ev.retry) or ev.retry) end
  local data = ev.data
  if type(data) == "table" then
    local err
    data, err = json.encode(data)
    if data == nil then return err end
  end
  if data ~= nil then
    for line in (tostring(data) .. "\n"):gmatch("([^\n]*)\n") do n = n + 1; out[n] = "data: " .. line end
  end
  return write(self, concat(out, "\n") .. "\n\n")
end

function http.response()
  local id = request_id()
  if id == nil then return nil, new_error("Internal", "not inside an HTTP request handler") end
  return setmetatable({_id = id}, RES)
end

return http
