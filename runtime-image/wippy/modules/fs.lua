-- The `fs` module: fs.get(id) -> FS over an fs.directory entry; every path stays inside it.
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error

local fs = {
  type = {FILE = "file", DIR = "directory"},
  seek = {SET = "set", CUR = "cur", END = "end"},
}

-- Lua strings are bytes; bytes that are not UTF-8 cross to Python as latin-1 text (flag true)
local LATIN1 = {}
for i = 128, 255 do LATIN1[string.char(i)] = utf8.char(i) end
local function pybytes(data)
  if type(data) ~= "string" or utf8.len(data) then return data, false end
  return (string.gsub(data, "[\128-\255]", LATIN1)), true
end

local full_id = S.full_id

local FILE = {__name = "fs.File"}
FILE.__index = FILE
function FILE:read(n) return py.fread(self._h, n) end
function FILE:write(data)
  local d, latin1 = pybytes(data)
  return py.fwrite(self._h, d, latin1)
end
function FILE:seek(whence, offset) return py.fseek(self._h, whence, offset) end
function FILE:sync() return py.fsync(self._h) end
function FILE:flush() return py.fflush(self._h) end
function FILE:close() return py.fclose(self._h) end
function FILE:stat() return py.stat(self._fs._id, self._fs._cwd, self._path) end
function FILE:lines()
  local data = py.fread(self._h, nil) or ""
  return data:gmatch("([^\n]*)\n?")
end

-- file:scanner(split): tokens of "lines" (without the line end), "words", "bytes" or "runes",
-- read 64 KiB at a time; a token longer than MAX_TOKEN ends the scan with an error (as Go's
-- bufio.Scanner), so a file without delimiters never fills the heap.
local SCANNER = {__name = "fs.Scanner"}
SCANNER.__index = SCANNER
local SPLITS = {lines = true, words = true, bytes = true, runes = true}
local CHUNK, MAX_TOKEN = 65536, 1048576
local find, sub, byte = string.find, string.sub, string.byte

function FILE:scanner(split)
  split = split or "lines"
  if not SPLITS[split] then return nil, new_error("Invalid", "scanner: split must be lines, words, bytes or runes") end
  return setmetatable({_h = self._h, _split = split, _buf = "", _pos = 1, _eof = false}, SCANNER)
end

-- more data after the current position; false at the end of the file or on an error
local function fill(sc)
  if sc._eof then return false end
  local chunk, err = py.fread(sc._h, CHUNK)
  if err then sc._err, sc._eof = err, true return false end
  if chunk == nil then sc._eof = true return false end
  sc._buf = sub(sc._buf, sc._pos) .. chunk
  sc._pos = 1
  return true
end

-- the next token from the buffer, or nil when more data is needed
local function next_token(sc)
  local buf, pos, split = sc._buf, sc._pos, sc._split
  if split == "lines" then
    local e = find(buf, "\n", pos, true)
    if e then
      sc._pos = e + 1
      if e > pos and byte(buf, e - 1) == 13 then e = e - 1 end
      return sub(buf, pos, e - 1)
    end
    if sc._eof and pos <= #buf then
      sc._pos = #buf + 1
      local last = sub(buf, pos)
      return (byte(last, -1) == 13) and sub(last, 1, -2) or last
    end
  elseif split == "words" then
    local s, e = find(buf, "%S+", pos)
    if s and (e < #buf or sc._eof) then sc._pos = e + 1 return sub(buf, s, e) end
    if not s then sc._pos = #buf + 1 end      -- only spaces so far
  elseif pos <= #buf then
    local n = 1
    if split == "runes" then
      local c = byte(buf, pos)
      n = c < 0xC0 and 1 or c < 0xE0 and 2 or c < 0xF0 and 3 or 4
      if pos + n - 1 > #buf and not sc._eof then return nil end
      local rune = sub(buf, pos, pos + n - 1)
      if not utf8.len(rune) then n, rune = 1, "\239\191\189" end   -- invalid UTF-8: U+FFFD, one byte
      sc._pos = pos + n
      return rune
    end
    sc._pos = pos + n
    return sub(buf, pos, pos)
  end
  return nil
end

function SCANNER:scan()
  while true do
    local token = next_token(self)
    if token then self._token = token return true end
    if #self._buf - self._pos + 1 > MAX_TOKEN then
      self._err = new_error("Invalid", "scanner: token too long (more than " .. MAX_TOKEN .. " bytes)")
      self._eof, self._buf, self._pos = true, "", 1
    elseif not fill(self) then
      token = not self._err and next_token(self)
      if token then self._token = token return true end
    end
    if self._eof and self._pos > #self._buf or self._err then
      self._token = nil
      return false, self._err
    end
  end
end
function SCANNER:text() return self._token end
function SCANNER:err() return self._err and self._err:message() or nil end

local FS = {__name = "fs.FS"}
FS.__index = FS
function FS:readfile(p) return py.readfile(self._id, self._cwd, p) end
function FS:writefile(p, data, mode)
  local d, latin1 = pybytes(data)
  return py.writefile(self._id, self._cwd, p, d, mode, latin1)
end
function FS:exists(p) return py.exists(self._id, self._cwd, p) end
function FS:isdir(p) return py.isdir(self._id, self._cwd, p) end
function FS:stat(p) return py.stat(self._id, self._cwd, p) end
function FS:mkdir(p, parents) return py.mkdir(self._id, self._cwd, p, parents) end
function FS:remove(p, recursive) return py.remove(self._id, self._cwd, p, recursive) end
function FS:readdir(p)
  local list, err = py.readdir(self._id, self._cwd, p or ".")
  if not list then return nil, err end
  local i = 0
  return function() i = i + 1; return list[i] end
end
function FS:list(p) return py.readdir(self._id, self._cwd, p or ".") end
function FS:chdir(p)
  local d, err = py.resolve_dir(self._id, self._cwd, p)
  if not d then return nil, err end
  self._cwd = d
  return true
end
function FS:pwd() return self._cwd end
function FS:open(p, mode)
  local h, err = py.open(self._id, self._cwd, p, mode)
  if not h then return nil, err end
  return setmetatable({_h = h, _fs = self, _path = p}, FILE)
end

function fs.get(id)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "fs.get: filesystem id must be a non-empty string") end
  local ok, err = py.get(fid)
  if not ok then return nil, err end
  return setmetatable({_id = fid, _cwd = "/"}, FS)
end

return fs
