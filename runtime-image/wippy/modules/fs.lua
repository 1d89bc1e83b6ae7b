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

-- open files are the shared stream (modules/stream.lua); their stat() adds the fields of
-- fs:stat(path) (name, mode, modified, is_dir) to the stream's
local FILE = S.stream.class("fs.File", {
  read = py.fread, seek = py.fseek, flush = py.fflush, close = py.fclose,
  write = function(h, data)
    local d, latin1 = pybytes(data)
    return py.fwrite(h, d, latin1)
  end,
  tell = function(h) return py.fseek(h, "cur", 0) end,
  stat = function(f) return py.stat(f.fs._id, f.fs._cwd, f.path) end,
  default_read = 4096,
}, {
  sync = function(self)
    local h, closed = S.stream.handle(self)
    if closed then return nil, new_error("Internal", "stream is closed") end
    return py.fsync(h.h)
  end,
  lines = function(self)
    local h, closed = S.stream.handle(self)
    local data = not closed and py.fread(h.h, nil) or ""
    return data:gmatch("([^\n]*)\n?")
  end,
})
-- the file ops take h = {h = python handle, fs, path}
for _, op in ipairs({"read", "seek", "flush", "close", "write", "tell"}) do
  local f = FILE.ops[op]
  FILE.ops[op] = function(h, ...) return f(h.h, ...) end
end

local FS = {__name = "fs.FS"}
FS.__index = FS
function FS:readfile(p) return py.readfile(self._id, self._cwd, p) end
function FS:writefile(p, data, mode)
  if type(data) == "table" and type(data.read) == "function" then   -- a stream: copied chunk by chunk
    if mode ~= nil and mode ~= "w" and mode ~= "a" then
      return nil, new_error("Invalid", "writefile: a stream is written with mode w or a")
    end
    local f, err = self:open(p, mode or "w")
    if not f then return nil, err end
    while true do
      local chunk, rerr = data:read(65536)
      if rerr then f:close() return nil, rerr end
      if chunk == nil then break end
      local n, werr = f:write(chunk)
      if not n then f:close() return nil, werr end
    end
    f:close()
    return true
  end
  local d, latin1 = pybytes(data)
  return py.writefile(self._id, self._cwd, p, d, mode, latin1)
end
FS.read_file = FS.readfile
FS.write_file = FS.writefile
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
  mode = mode or "r"
  return S.stream.new(FILE, {h = h, fs = self, path = p},
    {readable = mode == "r" or mode:find("+", 1, true) ~= nil, writable = mode ~= "r"},
    {_fs = self, _path = p})
end

function fs.get(id)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "fs.get: filesystem id must be a non-empty string") end
  local ok, err = py.get(fid)
  if not ok then return nil, err end
  return setmetatable({_id = fid, _cwd = "/"}, FS)
end

return fs
