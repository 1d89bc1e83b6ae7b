-- The `funcs` module: call function.lua entries by id, synchronously or as futures.
-- A synchronous call runs the function on the caller's own task (inside pcall), so it
-- costs no scheduling; context, actor and scope flow down and are restored afterwards.
local S, P = ...

local type, error, tostring, pairs, setmetatable, pcall = type, error, tostring, pairs, setmetatable, pcall
local pack, unpack = table.pack, table.unpack
local new_error, as_error, copy, current, KILL = S.new_error, S.as_error, S.copy, S.current, S.KILL
local YIELD, checkpoint = S.YIELD, S.checkpoint
local pack_copy, NEEDS_COPY = S.pack_copy, S.NEEDS_COPY

S.function_pools = {}

-- A function instance is a fresh global table plus the entry's callable; instances are
-- reused (like Wippy's VM pools) until the entry's code changes.
local function pool_take(fac)
  local pool = S.function_pools[fac.id]
  if pool and pool.fac == fac and pool.n > 0 then
    local inst = pool[pool.n]
    pool[pool.n] = nil
    pool.n = pool.n - 1
    return inst
  end
  local env, value = S.instantiate(fac)
  return {handler = S.entry_callable(fac, env, value), fac = fac}
end

local function pool_put(inst)
  local fac = inst.fac
  if S.factories[fac.id] ~= fac then return end
  local pool = S.function_pools[fac.id]
  if not pool or pool.fac ~= fac then
    pool = {fac = fac, n = 0}
    S.function_pools[fac.id] = pool
  end
  if pool.n < (fac.pool_max or 16) then
    pool.n = pool.n + 1
    pool[pool.n] = inst
  end
end

local function resolve_id(id) return S.resolve_id(id, "function id") end

local function merged(a, b)
  if not b then return a end
  local r = {}
  if a then for k, v in pairs(a) do r[k] = v end end
  for k, v in pairs(b) do r[k] = copy(v) end
  return r
end

-- a function's (value, err) result as the caller sees it
local function outcome(ok, v, e)
  if not ok then return nil, as_error(v) end
  if v == nil and e ~= nil then return nil, as_error(e) end
  if not NEEDS_COPY[type(v)] then return v end
  local okc, cv = pcall(copy, v)
  if not okc then return nil, new_error("Internal", "function result: " .. tostring(cv)) end
  return cv
end

local function prepare(id, ...)
  local fac, err = S.get_factory(id, "function.lua")
  if not fac then return nil, err end
  local ok, args = pack_copy(...)
  if not ok then return nil, new_error("Invalid", tostring(args)) end
  return fac, args
end

local call_async  -- forward

local function call_with(ex, id, ...)
  id = resolve_id(id)
  local task = current()
  if not task then error("funcs.call outside of a task", 2) end
  if not S.check("funcs.call", id) then return nil, S.denied("funcs.call", id) end
  if ex.opts and ex.opts.timeout then
    local fut, err = call_async(ex, id, ...)
    if not fut then return nil, err end
    return fut:wait(ex.opts.timeout)
  end
  if YIELD.f then checkpoint() end
  local fac, args = prepare(id, ...)
  if not fac then return nil, args end
  local okp, inst = pcall(pool_take, fac)
  if not okp then
    if inst == KILL or task.dead then error(KILL, 0) end
    return nil, as_error(inst)
  end
  local saved_ctx, saved_fac, saved_actor, saved_scope = task.ctx, task.fac, task.actor, task.scope
  task.ctx = merged(saved_ctx, ex.ctx)
  if ex.actor ~= nil then task.actor = ex.actor end
  if ex.scope ~= nil then task.scope = ex.scope end
  task.fac = fac
  local ok, v, e = pcall(inst.handler, unpack(args, 1, args.n))
  task.ctx, task.fac, task.actor, task.scope = saved_ctx, saved_fac, saved_actor, saved_scope
  if not ok then
    if v == KILL or task.dead then error(KILL, 0) end
    return nil, as_error(v)   -- a failed instance is not returned to the pool
  end
  pool_put(inst)
  return outcome(true, v, e)
end

---------------------------------------------------------------------------
-- futures
---------------------------------------------------------------------------
local FUT = {}
FUT.__index = FUT
FUT.__name = "future"

function FUT:response() return self.ch end
FUT.channel = FUT.response
function FUT:is_complete() return self.done end
function FUT:is_canceled() return self.canceled or false end
function FUT:result()
  if not self.done then return nil, nil end
  if self.err then return nil, self.err end
  return S.new_payload(self.value)
end
function FUT:error()
  if not self.done then return nil, false end
  return self.err, self.err ~= nil
end
function FUT:cancel()
  if self.done then return false end
  self.canceled = true
  S.kill_task(self.task)
  self:finish(nil, new_error("Canceled", "call canceled"))
  return true
end
function FUT:finish(value, err)
  if self.done then return end
  self.done = true
  self.value, self.err = value, err
  if err then self.ch:close()
  else S.channel_push(self.ch, S.new_payload(value)); self.ch:close() end
  local waiter = self.waiter
  if waiter then self.waiter = nil; S.wake(waiter, true) end
end
-- block until done, optionally bounded by a timeout
function FUT:wait(timeout)
  if not self.done then
    local task = current()
    self.waiter = task
    local timer
    if timeout then
      local secs = S.duration_seconds(timeout)
      timer = S.add_timer(secs, function() if not self.done then self.waiter = nil; S.wake(task, false) end end)
    end
    local finished = S.suspend()
    if timer then timer.cancelled = true end
    if not finished then
      self:cancel()
      return nil, new_error("Timeout", "function call timed out after " .. tostring(timeout))
    end
  end
  if self.err then return nil, self.err end
  return copy(self.value)
end

-- a pending result: finish(value, err) completes it; workflows share this type
function S.new_future() return setmetatable({ch = S.new_channel(1), done = false}, FUT) end

call_async = function(ex, id, ...)
  id = resolve_id(id)
  if not S.check("funcs.call", id) then return nil, S.denied("funcs.call", id) end
  local fac, args = prepare(id, ...)
  if not fac then return nil, args end
  local task = current()
  local fut = S.new_future()
  local parent_ctx = task and task.ctx
  fut.task = S.start_task(task and task.proc, function()
    local inst = pool_take(fac)
    local v, e = inst.handler(unpack(args, 1, args.n))
    pool_put(inst)
    return v, e
  end, {n = 0}, {
    ctx = merged(parent_ctx, ex.ctx), fac = fac,
    actor = ex.actor ~= nil and ex.actor or (task and task.actor),
    scope = ex.scope ~= nil and ex.scope or (task and task.scope),
    on_done = function(_, ok, v, e)
      if ok then
        local value, err = outcome(true, v, e)
        fut:finish(value, err)
      else
        fut:finish(nil, as_error(v))
      end
    end,
  })
  return fut
end

-- Python-initiated calls (HTTP handlers, supervisors, the CLI) complete a token.
function S.call_from_python(id, args, ctx, token, actor, scope)
  local fac, err = S.get_factory(id, "function.lua")
  if not fac then P.call_done(token, nil, err) return end
  S.start_task(nil, function()
    local inst = pool_take(fac)
    local v, e = inst.handler(unpack(args, 1, args.n))
    pool_put(inst)
    return v, e
  end, {n = 0}, {ctx = ctx, fac = fac, actor = actor, scope = scope, on_done = function(_, ok, v, e)
    P.call_done(token, outcome(ok, v, e))
  end})
end

---------------------------------------------------------------------------
-- executors: the module's API over a pair of call implementations (workflows bring their own)
---------------------------------------------------------------------------
function S.funcs_api(call, async)
  local EXEC = {}
  EXEC.__index = EXEC
  local function derive(ex, k, v)
    local n = setmetatable({}, EXEC)
    for a, b in pairs(ex) do n[a] = b end
    n[k] = v
    return n
  end
  function EXEC:with_context(t) return derive(self, "ctx", merged(self.ctx, t)) end
  function EXEC:with_actor(a) return derive(self, "actor", a) end
  function EXEC:with_scope(s) return derive(self, "scope", s) end
  function EXEC:with_options(t) return derive(self, "opts", merged(self.opts, t)) end
  function EXEC:call(id, ...) return call(self, id, ...) end
  function EXEC:async(id, ...) return async(self, id, ...) end

  local DEFAULT = setmetatable({}, EXEC)
  return {
    new = function() return setmetatable({}, EXEC) end,
    call = function(id, ...) return call(DEFAULT, id, ...) end,
    async = function(id, ...) return async(DEFAULT, id, ...) end,
  }
end

return S.funcs_api(call_with, call_async)
