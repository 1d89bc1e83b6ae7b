-- The `fs` module: fs.get(id) -> FS over an fs.directory entry; every path stays inside it.
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error

local fs = {}

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
function FILE:close() return py.fclose(self._h) end
function FILE:stat() return py.stat(self._fs._id, self._fs._cwd, self._path) end
function FILE:lines()
  local data = py.fread(self._h, nil) or ""
  return data:gmatch("([^\n]*)\n?")
end

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
