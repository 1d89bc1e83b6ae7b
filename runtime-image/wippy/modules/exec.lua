-- The `exec` module: exec.get(id) -> Executor; executor:exec(cmd, {work_dir, env}) -> Process
-- with start/wait/stdout_stream/stderr_stream/write_stdin/signal/close. Commands need the
-- exec.get (executor) and exec.run (command) permissions and the executor's whitelist.
local S, P, py = ...
local type, setmetatable, error, tostring = type, setmetatable, error, tostring
local mtype, gsub, char, utf8len, utf8char = math.type, string.gsub, string.char, utf8.len, utf8.char
local new_error = S.new_error

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end

local state = setmetatable({}, {__mode = "k"})   -- object -> private state
local function object(methods, name, st)
  local o = setmetatable({}, {__index = methods, __name = name, __metatable = false,
                             __newindex = function() error(name .. " is read-only", 2) end})
  state[o] = st
  return o
end
local function get_state(self, kind)
  local st = state[self]
  if not st or st.kind ~= kind then error("expected " .. kind .. " (use obj:method)", 3) end
  return st
end
local function denied(action, resource)
  return new_error("Invalid", "permission denied: " .. action .. " on " .. tostring(resource))
end

local PROCESS, EXECUTOR = {}, {}

-- A command never outlives the Lua process that created it: when that process ends (returns,
-- fails, is cancelled or killed), its commands still running are killed with their process group.
local own, disown = S.process_resources(function(handle) py.close(handle, true) end)

-- output streams are the shared stream (modules/stream.lua), read-only
local STREAM = S.stream.class("exec.Stream", {read = function(h, n) return py.read(h[1], h[2], n) end})

local function stream(self, which)
  local st = get_state(self, "process")
  local ok, err = py.want(st.handle, which)
  if not ok then return nil, err end
  return S.stream.new(STREAM, {st.handle, which})
end
function PROCESS.stdout_stream(self) return stream(self, "stdout") end
function PROCESS.stderr_stream(self) return stream(self, "stderr") end
function PROCESS.start(self) return py.start(get_state(self, "process").handle) end
function PROCESS.wait(self)
  local handle = get_state(self, "process").handle
  local code, err = py.wait(handle)
  if code ~= nil then disown(handle) end
  return code, err
end
function PROCESS.write_stdin(self, data)
  local st = get_state(self, "process")
  if type(data) ~= "string" then return nil, new_error("Invalid", "write_stdin expects a string") end
  if utf8len(data) then return py.write_stdin(st.handle, data, false) end
  return py.write_stdin(st.handle, (gsub(data, "[\128-\255]", LATIN1)), true)
end
function PROCESS.signal(self, signum)
  local st = get_state(self, "process")
  if mtype(signum) ~= "integer" or signum <= 0 or signum > 64 then return nil, new_error("Invalid", "signal must be a signal number") end
  return py.signal(st.handle, signum)
end
function PROCESS.close(self, force)
  local handle = get_state(self, "process").handle
  disown(handle)
  return py.close(handle, force and true or false)
end

function EXECUTOR.exec(self, cmd, opts)
  local st = get_state(self, "executor")
  if st.released then return nil, new_error("Invalid", "executor " .. st.id .. " was released") end
  if type(cmd) ~= "string" or cmd == "" then return nil, new_error("Invalid", "command must be a non-empty string") end
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  opts = opts or {}
  if opts.work_dir ~= nil and type(opts.work_dir) ~= "string" then return nil, new_error("Invalid", "work_dir must be a string") end
  if opts.env ~= nil and type(opts.env) ~= "table" then return nil, new_error("Invalid", "env must be a table") end
  if not S.check("exec.run", cmd) then return nil, denied("exec.run", cmd) end
  local handle, err = py.new(st.id, cmd, opts.work_dir, opts.env)
  if not handle then
    if err and err:kind() == "PermissionDenied" then return nil, new_error("Invalid", err:message()) end
    return nil, err
  end
  own(handle)
  return object(PROCESS, "exec.Process", {kind = "process", handle = handle}), nil
end
function EXECUTOR.release(self)
  get_state(self, "executor").released = true
  return true
end

local exec = {}
function exec.get(id)
  if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "executor id must be a non-empty string") end
  local fid = S.full_id(id)
  if not S.check("exec.get", fid) then return nil, denied("exec.get", fid) end
  local ok, err = py.get(fid)
  if not ok then return nil, err end
  return object(EXECUTOR, "exec.Executor", {kind = "executor", id = fid}), nil
end

return exec
