-- The `archive` module: zip/tar/tar.gz/tar.zst with bounded memory (wippy.archives).
-- Sources: an fs (from fs.get) plus a path, an open fs.File, raw bytes, or (scan) any stream
-- with :read(n). Destinations: an fs plus a path, or a stream with :write(data).
local S, P, py = ...
local type, setmetatable, error, tostring, pcall, rawget = type, setmetatable, error, tostring, pcall, rawget
local gsub, char, utf8len, utf8char = string.gsub, string.char, utf8.len, utf8.char
local new_error = S.new_error

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end
local function pystr(s)
  if utf8len(s) then return s, false end
  return (gsub(s, "[\128-\255]", LATIN1)), true
end

local state = setmetatable({}, {__mode = "k"})
local function make(methods, name, st)
  local o = setmetatable({}, {__index = methods, __name = name, __metatable = false,
                             __newindex = function() error(name .. " is read-only", 2) end})
  state[o] = st
  return o
end
local function st_of(self, kind)
  local st = state[self]
  if not st or st.kind ~= kind then error("expected an archive " .. kind .. " (use obj:method)", 3) end
  return st
end

-- fs handles and files: the runtime's own objects expose their fs id, folder and path
local function fs_of(v)
  if type(v) == "table" and type(rawget(v, "_id")) == "string" and type(rawget(v, "_cwd")) == "string" then
    return rawget(v, "_id"), rawget(v, "_cwd")
  end
end
local function file_of(v)
  if type(v) == "table" and type(rawget(v, "_path")) == "string" then
    local id, cwd = fs_of(rawget(v, "_fs"))
    if id then return id, cwd, rawget(v, "_path") end
  end
end
local function fs_allowed(id)
  if not S.check("fs.get", id) then return nil, new_error("PermissionDenied", "permission denied: fs.get on " .. id) end
  return true
end

local READER, WALKER, WRITER = {}, {}, {}

-- readers and writers still open when their process ends are closed then (a writer to a file is
-- finalized in a worker thread; one to a stream can no longer write to it: its data is dropped)
local own, disown = S.process_resources(function(h) py.release(h) end)

-- an option this module does not know is refused, not ignored
local function check_keys(o, allowed, what)
  for k in pairs(o) do
    if not allowed[k] then return nil, new_error("Invalid", "unknown " .. what .. " option '" .. tostring(k) .. "'") end
  end
  return o
end
local OPEN_OPTS = {format = true, max_entries = true, max_total_bytes = true, max_file_bytes = true,
                   max_inline_bytes = true, buffer_bytes = true}
local ADD_OPTS = {method = true, mode = true, modified = true}
local EXTRACT_OPTS = {prefix = true, strip = true, filter = true}
local function add_opts(opts)
  if opts == nil then return nil, nil end
  if type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  return check_keys(opts, ADD_OPTS, "add")
end

-- entry streams are the shared stream (modules/stream.lua), read-only; a walk's entry stream is
-- closed by the walk (it is valid until the walk advances)
local STREAM = S.stream.class("archive.Stream", {
  read = function(h, n) return py.sread(h.h, n) end,
  close = function(h) if not h.walk then py.sclose(h.h) end end,
})
local function new_stream(h, walk) return S.stream.new(STREAM, {h = h, walk = walk}) end

local function live(self)
  local st = st_of(self, "reader")
  if st.closed then return nil, new_error("Invalid", "archive reader is closed") end
  return st
end
function READER.entries(self)
  local st, err = live(self)
  if not st then error(tostring(err), 2) end
  local list, lerr = py.entries(st.h)
  if not list then error(tostring(lerr), 2) end
  local i = 0
  return function() i = i + 1; return list[i] end
end
function READER.stat(self, name)
  local st, err = live(self); if not st then return nil, err end
  return py.stat(st.h, name)
end
function READER.read(self, name)
  local st, err = live(self); if not st then return nil, err end
  if type(name) ~= "string" then return nil, new_error("Invalid", "entry name must be a string") end
  return py.read(st.h, name)
end
function READER.stream(self, name)
  local st, err = live(self); if not st then return nil, err end
  if type(name) ~= "string" then return nil, new_error("Invalid", "entry name must be a string") end
  local h, serr = py.stream(st.h, name)
  if not h then return nil, serr end
  return new_stream(h, false), nil
end
function READER.extract(self, name, dest, dest_path)
  local st, err = live(self); if not st then return nil, err end
  local id, cwd = fs_of(dest)
  if not id then return nil, new_error("PermissionDenied", "destination must be a filesystem (fs.get)") end
  local ok, perr = fs_allowed(id); if not ok then return nil, perr end
  return py.extract(st.h, name, id, cwd, dest_path)
end
function READER.extract_all(self, dest, opts)
  local st, err = live(self); if not st then return nil, err end
  local id, cwd = fs_of(dest)
  if not id then return nil, new_error("PermissionDenied", "destination must be a filesystem (fs.get)") end
  local ok, perr = fs_allowed(id); if not ok then return nil, perr end
  opts = opts or {}
  if type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  local _, kerr = check_keys(opts, EXTRACT_OPTS, "extract_all"); if kerr then return nil, kerr end
  local list, lerr = py.entries(st.h)
  if not list then return nil, lerr end
  local count = 0
  for _, e in ipairs(list) do
    if opts.filter == nil or opts.filter(e) then
      local target, terr = py.join_dest(opts.prefix, e.name, opts.strip)
      if terr then return nil, terr end
      if target then
        local done, xerr = py.extract(st.h, e.name, id, cwd, target)
        if not done then return nil, xerr end
        count = count + 1
      end
    end
  end
  return count, nil
end
function READER.close(self)
  local st = st_of(self, "reader")
  if not st.closed then st.closed = true; disown(st.h); py.close(st.h) end
  return true
end

function WALKER.walk(self)
  local st = st_of(self, "reader")
  local current
  return function()
    if st.closed then return nil end
    if current then current:close() end
    local item, err = py.walk_next(st.h)
    if err then error(tostring(err), 2) end
    if not item then return nil end
    current = new_stream(item.stream, true)
    return item.meta, current
  end
end
WALKER.close = READER.close

local function limits(opts)
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  return check_keys(opts or {}, OPEN_OPTS, "archive")
end

-- spool a readable stream into Python (a temporary file beyond 1 MiB), chunk by chunk
local function spool(src)
  local h = py.spool_new()
  while true do
    local ok, chunk, err = pcall(src.read, src, 65536)
    if not ok then return nil, new_error("PermissionDenied", "source not readable: " .. tostring(chunk)) end
    if err then return nil, err end
    if chunk == nil or chunk == "" then break end
    local d, l = pystr(chunk)
    py.spool_feed(h, d, l)
  end
  return h
end

local archive = {}

function archive.formats() return py.formats() end

local function open_reader(source, path, opts, random, ctor)
  if not S.check("archive.read", "") then return nil, new_error("PermissionDenied", "permission denied: archive.read") end
  if type(path) == "table" and opts == nil then opts, path = path, nil end
  local o, oerr = limits(opts)
  if not o then return nil, oerr end
  local h, err
  local id, cwd = fs_of(source)
  local fid, fcwd, fpath = file_of(source)
  if id then
    if type(path) ~= "string" then return nil, new_error("Invalid", "a path in the filesystem is required") end
    local ok, perr = fs_allowed(id); if not ok then return nil, perr end
    h, err = py.open_path(id, cwd, path, o, random)
  elseif fid then
    local ok, perr = fs_allowed(fid); if not ok then return nil, perr end
    h, err = py.open_path(fid, fcwd, fpath, o, random)
  elseif type(source) == "string" then
    local sh = py.spool_new()
    local d, l = pystr(source)
    py.spool_feed(sh, d, l)
    h, err = py.open_spool(sh, o, random)
  elseif type(source) == "table" and type(source.read) == "function" then
    local sh, serr = spool(source)
    if not sh then return nil, serr end
    h, err = py.open_spool(sh, o, random)
  else
    return nil, new_error("PermissionDenied", "source is not readable (fs and path, fs.File, bytes or a stream)")
  end
  if not h then return nil, err end
  own(h)
  return make(ctor, random and "archive.Reader" or "archive.Walker", {kind = "reader", h = h}), nil
end

function archive.open(source, path, opts) return open_reader(source, path, opts, true, READER) end
function archive.scan(source, opts) return open_reader(source, nil, opts, false, WALKER) end

function WRITER.add(self, name, data, opts)
  local st = st_of(self, "writer")
  if st.closed then return nil, new_error("Invalid", "archive writer is closed") end
  if type(name) ~= "string" then return nil, new_error("Invalid", "entry name must be a string") end
  local _, oerr = add_opts(opts); if oerr then return nil, oerr end
  if type(data) == "string" then
    local d, l = pystr(data)
    return py.add_bytes(st.h, name, d, l, opts)
  end
  if type(data) == "table" and type(data.read) == "function" then
    local sh, err = spool(data)
    if not sh then return nil, err end
    return py.add_spool(st.h, name, sh, opts)
  end
  return nil, new_error("Invalid", "entry data must be a string or a stream")
end
function WRITER.add_file(self, name, src_fs, path, opts)
  local st = st_of(self, "writer")
  if st.closed then return nil, new_error("Invalid", "archive writer is closed") end
  local id, cwd = fs_of(src_fs)
  if not id then return nil, new_error("PermissionDenied", "source must be a filesystem (fs.get)") end
  local ok, perr = fs_allowed(id); if not ok then return nil, perr end
  local _, oerr = add_opts(opts); if oerr then return nil, oerr end
  return py.add_file(st.h, name, id, cwd, path, opts)
end
function WRITER.add_dir(self, name)
  local st = st_of(self, "writer")
  if st.closed then return nil, new_error("Invalid", "archive writer is closed") end
  return py.add_dir(st.h, name)
end
function WRITER.close(self)
  local st = st_of(self, "writer")
  if st.closed then return true end
  st.closed = true
  disown(st.h)
  local r, err = py.wclose(st.h)
  if not r then return nil, err end
  if st.dest then      -- stream destination: copy the finished archive out
    while true do
      local chunk = py.drain(r, 65536)
      if not chunk then break end
      local ok, n, werr = pcall(st.dest.write, st.dest, chunk)
      if not ok then return nil, new_error("PermissionDenied", "destination not writable: " .. tostring(n)) end
      if n == nil and werr then return nil, werr end
    end
  end
  return true
end

function archive.create(dest, path, opts)
  if not S.check("archive.write", "") then return nil, new_error("PermissionDenied", "permission denied: archive.write") end
  local id, cwd = fs_of(dest)
  local h, err
  local st = {kind = "writer"}
  if id then
    if type(path) ~= "string" then return nil, new_error("Invalid", "a path in the filesystem is required") end
    local o, oerr = limits(opts); if not o then return nil, oerr end
    local ok, perr = fs_allowed(id); if not ok then return nil, perr end
    h, err = py.create_path(id, cwd, path, o)
  elseif type(dest) == "table" and type(dest.write) == "function" then
    local o, oerr = limits(type(path) == "table" and path or opts); if not o then return nil, oerr end
    h, err = py.create_spool(o)
    st.dest = dest
  else
    return nil, new_error("PermissionDenied", "destination is not writable (fs and path, or a stream)")
  end
  if not h then return nil, err end
  st.h = h
  own(h)
  return make(WRITER, "archive.Writer", st), nil
end

return archive
