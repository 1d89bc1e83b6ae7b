-- The `workflow` module, and the workflow-time versions of funcs, uuid, os, math.random and
-- process.upgrade. In an ordinary engine it only exposes functions that say where they work.
local S, P, py = ...
local type, error, tostring, pairs, setmetatable, pcall, select = type, error, tostring, pairs, setmetatable, pcall, select
local pack, unpack = table.pack, table.unpack
local new_error, as_error, copy, current = S.new_error, S.as_error, S.copy, S.current

local wf = {}

if not py.active then
  local function outside() return nil, new_error("Invalid", "the workflow module works only inside workflow.lua entries") end
  wf.info, wf.version, wf.attrs, wf.exec, wf.history_length, wf.history_size = outside, outside, outside, outside, outside, outside
  return wf
end

---------------------------------------------------------------------------
-- the workflow's main process, and its end
---------------------------------------------------------------------------
function S.wf_start(id, args, pid)
  local fac, err = S.get_factory(id, "process.lua")
  if not fac then return nil, err end
  local proc, perr = S.create_process(id, S.main_of(fac), args, {pid = pid})
  if not proc then return nil, perr end
  proc.main_task.fac = fac
  proc.exit_waiters = {function(v, e) py.done(v, e) end}
  return pid, nil
end

---------------------------------------------------------------------------
-- determinism: workflow time, recorded randomness
---------------------------------------------------------------------------
local os_time, os_date, os_difftime, floor = os.time, os.date, os.difftime, math.floor
local start_ns = py.now_ns()
local function now_s() return py.now_ns() // 1000000000 end
S.base_raw.os = {
  time = function(t) if t ~= nil then return os_time(t) end return now_s() end,
  date = function(fmt, t) return os_date(fmt, t or now_s()) end,
  clock = function() return (py.now_ns() - start_ns) / 1e9 end,
  difftime = os_difftime,
}
math.randomseed(py.seed())

local uuid = S.modules.uuid
if uuid then
  uuid.v4 = function() return py.uuid4(), nil end
  uuid.v7 = function() return py.uuid7(), nil end
  uuid.v1 = function() return py.uuid1(), nil end
end

---------------------------------------------------------------------------
-- funcs: every call is an activity (activity type = function entry id)
---------------------------------------------------------------------------
local function resolve_id(id) return S.resolve_id(id, "function id") end

local function activity(ex, id, args)
  return py.activity(id, args, ex.opts)
end

local function call_with(ex, id, ...)
  id = resolve_id(id)
  if not current() then error("funcs.call outside of a task", 2) end
  local ok, args = pcall(copy, pack(...))
  if not ok then return nil, new_error("Invalid", tostring(args)) end
  return activity(ex, id, args)
end

local function call_async(ex, id, ...)
  id = resolve_id(id)
  local ok, args = pcall(copy, pack(...))
  if not ok then return nil, new_error("Invalid", tostring(args)) end
  local task = current()
  local fut = S.new_future()
  fut.task = S.start_task(task and task.proc, function() return activity(ex, id, args) end, {n = 0}, {
    ctx = task and task.ctx, fac = task and task.fac,
    on_done = function(_, okd, v, e)
      if not okd then fut:finish(nil, as_error(v))
      elseif v == nil and e ~= nil then fut:finish(nil, as_error(e))
      else fut:finish(v, nil) end
    end,
  })
  return fut
end

local funcs = S.funcs_api(call_with, call_async)
S.modules.funcs = funcs

---------------------------------------------------------------------------
-- process.upgrade -> continue-as-new
---------------------------------------------------------------------------
local process = S.modules.process
process.upgrade = function(id, ...)
  local task = current()
  local me = task and task.proc
  if not me then return nil, new_error("Invalid", "process.upgrade() outside of a process") end
  if id ~= nil then
    if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "process id must be an entry id string") end
    if not id:find(":", 1, true) and task.fac and task.fac.ns ~= "" then id = task.fac.ns .. ":" .. id end
  else
    id = me.entry
  end
  local ok, args = pcall(copy, pack(...))
  if not ok then return nil, new_error("Invalid", tostring(args)) end
  py.upgrade(id, args)
  S.exit_proc(me, nil, nil)
  error(S.KILL, 0)
end

---------------------------------------------------------------------------
-- the workflow module
---------------------------------------------------------------------------
function wf.info() return py.info() end
function wf.history_length() return py.history_length() end
function wf.history_size() return py.history_size() end
function wf.version(change_id, min_v, max_v) return py.version(change_id, min_v, max_v) end
function wf.attrs(t) return py.attrs(t) end
function wf.exec(id, ...) return process.exec(id, py.worker, ...) end
return wf
