-- Internal: the one stream object of lua/core/stream.md. Every module that hands out a stream
-- (fs files, HTTP request and upload bodies, http_client responses, exec output, archive entries)
-- builds it here from its own operations, so read/write/seek/flush/stat/close/scanner behave and
-- fail the same way everywhere.
--
--   local class = S.stream.class("fs.File", ops, extra_methods)
--   local s = S.stream.new(class, handle, {readable = true, writable = false}, raw_fields)
--
-- ops (each optional; a missing one makes the stream not readable/writable/seekable):
--   read(h, n) -> data | nil (end) [, err]      write(h, data) -> bytes [, err]
--   seek(h, whence, offset) -> position [, err] flush(h) -> true [, err]
--   size(h) -> bytes | -1                        tell(h) -> position (else counted here)
--   stat(h) -> table of extra stat fields        close(h)
--   default_read: the size read(nil) asks for (default 32 KiB, as read(0))
local S = ...
local type, setmetatable, tostring, error, pcall, pairs = type, setmetatable, tostring, error, pcall, pairs
local mtype, find, sub, byte, utf8len = math.type, string.find, string.sub, string.byte, utf8.len
local new_error = S.new_error

local CHUNK = 32768
local SCAN_CHUNK, MAX_TOKEN = 65536, 1048576

local state = setmetatable({}, {__mode = "k"})   -- stream -> {h, ops, pos, closed, r, w}

local function live(self, what)
  local st = state[self]
  if not st then error("expected a stream (use stream:" .. what .. "(...))", 3) end
  if st.closed then return nil, new_error("Internal", "stream is closed") end
  return st
end

local METHODS = {}

function METHODS.read(self, size)
  local st, err = live(self, "read")
  if not st then return nil, err end
  if not st.r then return nil, new_error("Internal", "stream is not readable") end
  if size == nil then size = st.ops.default_read or CHUNK
  elseif mtype(size) ~= "integer" or size < 0 then
    return nil, new_error("Invalid", "read size must be a non-negative integer")
  elseif size == 0 then size = CHUNK end
  local data, rerr = st.ops.read(st.h, size)
  if data == nil or data == "" then return nil, rerr end
  st.pos = st.pos + #data
  return data, nil
end

function METHODS.write(self, data)
  local st, err = live(self, "write")
  if not st then return nil, err end
  if not st.w then return nil, new_error("Internal", "stream is not writable") end
  if type(data) == "number" then data = tostring(data)
  elseif type(data) ~= "string" then return nil, new_error("Invalid", "write expects a string, got " .. type(data)) end
  local n, werr = st.ops.write(st.h, data)
  if n == nil then return nil, werr end
  st.pos = st.pos + n
  return n, nil
end

local WHENCE = {set = true, cur = true, ["end"] = true}
function METHODS.seek(self, whence, offset)
  local st, err = live(self, "seek")
  if not st then return nil, err end
  whence = whence or "cur"
  if not WHENCE[whence] then return nil, new_error("Invalid", "whence must be \"set\", \"cur\" or \"end\"") end
  offset = offset or 0
  if mtype(offset) ~= "integer" then return nil, new_error("Invalid", "offset must be an integer") end
  if not st.ops.seek then return nil, new_error("Internal", "stream is not seekable") end
  local pos, serr = st.ops.seek(st.h, whence, offset)
  if pos == nil then return nil, serr end
  st.pos = pos
  return pos, nil
end

function METHODS.flush(self)
  local st, err = live(self, "flush")
  if not st then return nil, err end
  if st.ops.flush and st.w then return st.ops.flush(st.h) end
  return true, nil
end

function METHODS.stat(self)
  local st, err = live(self, "stat")
  if not st then return nil, err end
  local ops = st.ops
  local info = {}
  if ops.stat then
    local extra, serr = ops.stat(st.h)
    if extra == nil then return nil, serr end
    for k, v in pairs(extra) do info[k] = v end
  end
  local size = info.size
  if size == nil then size = ops.size and ops.size(st.h) or -1 end
  info.size = size
  info.position = ops.tell and ops.tell(st.h) or st.pos
  info.readable, info.writable, info.seekable = st.r, st.w, ops.seek ~= nil
  return info, nil
end

function METHODS.close(self)
  local st = state[self]
  if not st then error("expected a stream (use stream:close())", 2) end
  if not st.closed then
    st.closed = true
    if st.ops.close then
      local ok, cerr = pcall(st.ops.close, st.h)
      if not ok then return nil, new_error("Internal", "close failed: " .. tostring(cerr)) end
    end
  end
  return true, nil
end

---------------------------------------------------------------------------
-- scanner: tokens of "lines" (without the line end), "words", "bytes" or "runes", read 64 KiB at
-- a time; a token longer than 1 MiB ends the scan with an error (as Go's bufio.Scanner), so a
-- stream without delimiters never fills the heap
---------------------------------------------------------------------------
local SCANNER = {}
local scanners = setmetatable({}, {__mode = "k"})
local SCANNER_MT = {__index = SCANNER, __name = "stream.Scanner", __metatable = false,
                    __newindex = function() error("stream.Scanner is read-only", 2) end}
local SPLITS = {lines = true, words = true, bytes = true, runes = true}

function METHODS.scanner(self, split)
  local _, err = live(self, "scanner")
  if err then return nil, err end
  split = split or "lines"
  if not SPLITS[split] then return nil, new_error("Invalid", "scanner: split must be lines, words, bytes or runes") end
  local sc = setmetatable({}, SCANNER_MT)
  scanners[sc] = {stream = self, split = split, buf = "", pos = 1, eof = false}
  return sc, nil
end

local function fill(sc)
  if sc.eof then return false end
  local chunk, err = METHODS.read(sc.stream, SCAN_CHUNK)
  if err then sc.err, sc.eof = err, true return false end
  if chunk == nil then sc.eof = true return false end
  sc.buf = sub(sc.buf, sc.pos) .. chunk
  sc.pos = 1
  return true
end

-- the next token from the buffer, or nil when more data is needed
local function next_token(sc)
  local buf, pos, split = sc.buf, sc.pos, sc.split
  if split == "lines" then
    local e = find(buf, "\n", pos, true)
    if e then
      sc.pos = e + 1
      if e > pos and byte(buf, e - 1) == 13 then e = e - 1 end
      return sub(buf, pos, e - 1)
    end
    if sc.eof and pos <= #buf then
      sc.pos = #buf + 1
      local last = sub(buf, pos)
      return (byte(last, -1) == 13) and sub(last, 1, -2) or last
    end
  elseif split == "words" then
    local s, e = find(buf, "%S+", pos)
    if s and (e < #buf or sc.eof) then sc.pos = e + 1 return sub(buf, s, e) end
    if not s then sc.pos = #buf + 1 end      -- only spaces so far
  elseif pos <= #buf then
    local n = 1
    if split == "runes" then
      local c = byte(buf, pos)
      n = c < 0xC0 and 1 or c < 0xE0 and 2 or c < 0xF0 and 3 or 4
      if pos + n - 1 > #buf and not sc.eof then return nil end
      local rune = sub(buf, pos, pos + n - 1)
      if not utf8len(rune) then n, rune = 1, "\239\191\189" end   -- invalid UTF-8: U+FFFD, one byte
      sc.pos = pos + n
      return rune
    end
    sc.pos = pos + n
    return sub(buf, pos, pos)
  end
  return nil
end

local function scanner_of(self)
  local sc = scanners[self]
  if not sc then error("expected a stream scanner (use scanner:scan())", 3) end
  return sc
end

function SCANNER.scan(self)
  local sc = scanner_of(self)
  while true do
    local token = next_token(sc)
    if token then sc.token = token return true end
    if #sc.buf - sc.pos + 1 > MAX_TOKEN then
      sc.err = new_error("Invalid", "scanner: token too long (more than " .. MAX_TOKEN .. " bytes)")
      sc.eof, sc.buf, sc.pos = true, "", 1
    elseif not fill(sc) then
      token = not sc.err and next_token(sc)
      if token then sc.token = token return true end
    end
    if sc.eof and sc.pos > #sc.buf or sc.err then
      sc.token = nil
      return false, sc.err
    end
  end
end
function SCANNER.text(self) return scanner_of(self).token end
function SCANNER.err(self)
  local e = scanner_of(self).err
  return e and e:message() or nil
end

---------------------------------------------------------------------------
-- classes and streams
---------------------------------------------------------------------------
local stream = {}

-- a stream class: the shared methods plus a producer's own (fs files: sync, lines)
function stream.class(name, ops, extra)
  local methods = {}
  for k, f in pairs(METHODS) do methods[k] = f end
  for k, f in pairs(extra or {}) do methods[k] = f end
  return {ops = ops, mt = {__index = methods, __name = name, __metatable = false,
                           __newindex = function() error(name .. " is read-only", 2) end}}
end

-- a stream of `class` over handle h; opts.readable/writable narrow what the ops allow (a file
-- opened "r" is not writable); `fields` become the object's own read-only fields
function stream.new(class, h, opts, fields)
  local ops = class.ops
  local s = setmetatable(fields or {}, class.mt)
  state[s] = {h = h, ops = ops, pos = 0, closed = false,
              r = ops.read ~= nil and not (opts and opts.readable == false),
              w = ops.write ~= nil and not (opts and opts.writable == false)}
  return s
end

-- the handle of one of our streams (nil for anything else), e.g. to pass a stream to Python
function stream.handle(s, class)
  local st = state[s]
  if st and (class == nil or st.ops == class.ops) then return st.h, st.closed end
end

-- a readable stream over a Lua string (request bodies, uploaded files), seekable
local MEMORY = stream.class("stream.Stream", {
  read = function(m, n)
    local p = m.p
    local len = #m.s
    if p > len then return nil end
    m.p = p + n <= len and p + n or len + 1
    return sub(m.s, p, p + n - 1)
  end,
  seek = function(m, whence, offset)
    local base = whence == "set" and 0 or whence == "cur" and m.p - 1 or #m.s
    local p = base + offset
    if p < 0 then return nil, new_error("Invalid", "seek before the start of the stream") end
    m.p = p + 1
    return p
  end,
  size = function(m) return #m.s end,
  tell = function(m) return m.p - 1 end,
})
function stream.of_string(s) return stream.new(MEMORY, {s = s, p = 1}) end

S.stream = stream
return stream
