-- The `process` global: pids, spawning, messaging, monitors and links, names, upgrade.
local S, P = ...

local type, error, tostring, pairs, setmetatable, select = type, error, tostring, pairs, setmetatable, select
local pack, unpack = table.pack, table.unpack
-- the C functions: `s:match` reaches the sandbox's budgeted matcher (Lua, for costly patterns)
local sfind, smatch = string.find, string.match
local new_error, copy, deliver, suspend, wake = S.new_error, S.copy, S.deliver, S.suspend, S.wake
local pack_copy = S.pack_copy
local remote_send = S.remote_send
local current = S.current
local YIELD, checkpoint = S.YIELD, S.checkpoint

local process = {}
local EV = S.EV
process.event = {CANCEL = EV.CANCEL, EXIT = EV.EXIT, LINK_DOWN = EV.LINK_DOWN}

local function self_proc()
  local task = current()
  return task and task.proc
end

local resolve_id = S.resolve_id

local LOCAL_PIDS = "{" .. S.node .. "@" .. S.host .. "|"   -- how S.new_pid's pids begin

local sbyte = string.byte
local BRACE, AT = sbyte("{"), sbyte("@")
local function is_pid(s) return type(s) == "string" and sbyte(s, 1) == BRACE end

-- a destination is a pid or a registered name
local function resolve_dest(dest)
  if is_pid(dest) then return dest end
  if type(dest) ~= "string" then return nil, new_error("Invalid", "destination must be a pid or a name") end
  local pid = P.lookup_name(dest)
  if not pid then return nil, new_error("NotFound", "no process registered as '" .. dest .. "'") end
  return pid
end

function process.pid()
  local proc = self_proc()
  return proc and proc.pid
end

function process.id()
  local task = current()
  if not task then return nil end
  task.frame_id = task.frame_id or P.frame_id()
  return task.frame_id
end

local function payload_of(n, ...)
  if n <= 1 then return copy((...)) end
  return copy(pack(...))
end

function process.send(dest, topic, ...)
  if type(topic) ~= "string" then return nil, new_error("Invalid", "topic must be a string") end
  if sbyte(topic, 1) == AT then return nil, new_error("Invalid", "topic '" .. topic .. "' is reserved") end
  local procs = S.procs
  local pid, target = dest, procs[dest]   -- (a pid of this host, the usual case: nothing to resolve)
  if not target then
    local err
    pid, err = resolve_dest(dest)
    if not pid then return nil, err end
    target = procs[pid]
  end
  local task = current()
  local me = task and task.proc
  local from = me and me.pid
  if not target then   -- a process of another node: encoded and queued for it (wire.lua)
    local value = ...
    if select("#", ...) > 1 then value = pack(...) end
    local sent, serr = remote_send(pid, topic, from, value)
    if sent ~= false then
      if YIELD.f then checkpoint() end
      return sent, serr
    end
  end
  local n, value = select("#", ...), ...
  local tv = type(value)
  if n ~= 1 or tv == "table" or tv == "function" or tv == "thread" or tv == "userdata" then
    -- (one plain value, the usual message, needs no copy)
    local ok
    ok, value = pcall(payload_of, n, ...)
    if not ok then return nil, new_error("Invalid", tostring(value)) end
  end
  if YIELD.f then checkpoint() end
  if target then return deliver(target, topic, from, value) end
  -- a process of this host that is gone: dropped here (fire-and-forget), no trip through Python
  if sfind(pid, LOCAL_PIDS, 1, true) == 1 then return true end
  return P.send_remote(pid, topic, from, value)
end

---------------------------------------------------------------------------
-- spawning
---------------------------------------------------------------------------
local function main_of(fac)
  local main = fac.main_of   -- one closure per factory, not per spawn
  if main == nil then
    main = function(...)
      local env, value = S.instantiate(fac)
      return S.entry_callable(fac, env, value)(...)
    end
    fac.main_of = main
  end
  return main
end
S.main_of = main_of

local function link(a, b_pid)
  a.links = a.links or {}
  a.links[b_pid] = true
end

-- `node@host` names a host of another node of the cluster (nil node: this one)
local function split_node(host)
  if type(host) == "string" then
    local n, h
    if sfind(host, "@", 1, true) then n, h = smatch(host, "^([^@:]+)@(.+)$") end
    if n and n ~= S.node then return n, h end
    if n then return nil, h end
  end
  return nil, host
end

-- this engine's host id when split_node and resolve_id leave it as it is: a spawn naming it, the
-- usual case, skips both
local THIS_HOST = sfind(S.host, ":", 1, true) and not sfind(S.host, "@", 1, true) and S.host

-- spawner: immutable options {ctx, opts, actor, scope, name, messages}
local function spawn_with(sp, id, host, monitored, linked, ...)
  if YIELD.f then checkpoint() end   -- a spawn loop is preempted like any loop
  id = resolve_id(id, "process id")
  local on_node
  if host ~= THIS_HOST then
    local bare
    on_node, bare = split_node(host)
    host = resolve_id(bare, "host")
  end
  if not S.check("process.spawn", id) then return nil, S.denied("process.spawn", id) end
  if not S.check("process.host", host) then return nil, S.denied("process.host", host) end
  local me = self_proc()
  local ok, cargs = pack_copy(...)
  if not ok then return nil, new_error("Invalid", tostring(cargs)) end
  if on_node then   -- a host of another node: the cluster spawns it there
    local r, rerr = P.spawn_remote(id, on_node .. "@" .. host, S.plain_spawner(sp), me and me.pid, monitored, linked, cargs)
    if type(r) == "number" then return S.await_token(r) end
    return r, rerr
  end
  if host ~= S.host then
    return P.spawn_remote(id, host, S.plain_spawner(sp), me and me.pid, monitored, linked, cargs)
  end
  if sp.name then
    local existing = P.lookup_name(sp.name)
    if existing then return existing end
  end
  local fac, err = S.get_factory(id, "process.lua")
  if not fac then return nil, err end
  local proc, perr = S.create_process(id, main_of(fac), cargs,
    {ctx = sp.ctx, actor = sp.actor, scope = sp.scope})
  if not proc then return nil, perr end
  proc.main_task.fac = fac
  if me then proc.parent = me.pid end   -- system.hosts.processes reports it
  if monitored and me then proc.monitors = {[me.pid] = true} end
  if linked and me then link(proc, me.pid); link(me, proc.pid) end
  if sp.name then
    local okn, nerr = P.register_name(sp.name, proc.pid)
    if not okn then S.terminate(proc.pid, "name taken"); return nil, nerr end
    proc.named = true
  end
  if sp.messages then
    for _, m in ipairs(sp.messages) do deliver(proc, m.topic, me and me.pid, copy(m.payload)) end
  end
  return proc.pid
end
S.spawn_with = spawn_with

-- called by Python to start a process in this engine on behalf of another engine or a supervisor
function S.spawn_local(id, args, ctx, watcher, monitored, linked, name, actor, scope)
  local fac, err = S.get_factory(id, "process.lua")
  if not fac then return nil, err end
  local proc, perr = S.create_process(id, main_of(fac), args,
    {ctx = ctx, actor = S.make_actor(actor), scope = S.make_scope(scope)})
  if not proc then return nil, perr end
  proc.main_task.fac = fac
  if watcher and monitored then proc.monitors = {[watcher] = true} end
  if watcher and linked then link(proc, watcher) end
  if name then
    local okn, nerr = P.register_name(name, proc.pid)
    if not okn then S.terminate(proc.pid, "name taken"); return nil, nerr end
    proc.named = true
  end
  return proc.pid, nil
end

-- spawner options as plain data for another host (actor and scope as tables of strings)
function S.plain_spawner(sp)
  local actor, scope = sp.actor, sp.scope
  return {ctx = sp.ctx, opts = sp.opts, name = sp.name, messages = sp.messages,
          actor = actor and {id = actor._id, meta = actor._meta} or nil,
          scope = scope and scope._ids or nil}
end

local SPAWNER = {}
SPAWNER.__index = SPAWNER
local function spawner(fields) return setmetatable(fields, SPAWNER) end
local function with(sp, k, v)
  local n = {}
  for a, b in pairs(sp) do n[a] = b end
  n[k] = v
  return spawner(n)
end
local function merged(a, b)
  local r = {}
  if a then for k, v in pairs(a) do r[k] = v end end
  if b then for k, v in pairs(b) do r[k] = copy(v) end end
  return r
end
function SPAWNER:with_context(t) return with(self, "ctx", merged(self.ctx, t)) end
function SPAWNER:with_options(t) return with(self, "opts", merged(self.opts, t)) end
function SPAWNER:with_actor(a) return with(self, "actor", a) end
function SPAWNER:with_scope(s) return with(self, "scope", s) end
function SPAWNER:with_name(n) return with(self, "name", n) end
function SPAWNER:with_message(topic, ...)
  local msgs = {}
  if self.messages then for i, m in ipairs(self.messages) do msgs[i] = m end end
  msgs[#msgs + 1] = {topic = topic, payload = select("#", ...) <= 1 and (...) or pack(...)}
  return with(self, "messages", msgs)
end
function SPAWNER:spawn(id, host, ...) return spawn_with(self, id, host, false, false, ...) end
function SPAWNER:spawn_monitored(id, host, ...) return spawn_with(self, id, host, true, false, ...) end
function SPAWNER:spawn_linked(id, host, ...) return spawn_with(self, id, host, false, true, ...) end
function SPAWNER:spawn_linked_monitored(id, host, ...) return spawn_with(self, id, host, true, true, ...) end

local DEFAULT = spawner({})
function process.with_context(t) return DEFAULT:with_context(t) end
function process.with_options(t) return DEFAULT:with_options(t) end
function process.spawn(id, host, ...) return spawn_with(DEFAULT, id, host, false, false, ...) end
function process.spawn_monitored(id, host, ...) return spawn_with(DEFAULT, id, host, true, false, ...) end
function process.spawn_linked(id, host, ...) return spawn_with(DEFAULT, id, host, false, true, ...) end
function process.spawn_linked_monitored(id, host, ...) return spawn_with(DEFAULT, id, host, true, true, ...) end

-- spawn and wait for the return value
local function exec_with(sp, id, host, ...)
  id = resolve_id(id, "process id")
  local on_node, bare = split_node(host)
  host = resolve_id(bare, "host")
  if on_node then host = on_node .. "@" .. host end
  local task = current()
  if host ~= S.host then
    local ok, cargs = pcall(copy, pack(...))
    if not ok then return nil, new_error("Invalid", tostring(cargs)) end
    local token = P.exec_remote(id, host, S.plain_spawner(sp), cargs)
    if type(token) ~= "number" then return nil, token end
    return S.await_token(token)
  end
  local pid, err = spawn_with(sp, id, host, false, false, ...)
  if not pid then return nil, err end
  local proc = S.procs[pid]
  if not proc then return nil, new_error("Internal", "process ended before it started") end
  proc.exit_waiters = proc.exit_waiters or {}
  proc.exit_waiters[#proc.exit_waiters + 1] = function(value, e) wake(task, value, e) end
  local v, e = suspend()
  if e ~= nil then return nil, e end
  return v
end
function SPAWNER:exec(id, host, ...) return exec_with(self, id, host, ...) end
function process.exec(id, host, ...) return exec_with(DEFAULT, id, host, ...) end

---------------------------------------------------------------------------
-- lifecycle signals, monitors and links
---------------------------------------------------------------------------
function process.cancel(dest, reason)
  local pid, err = resolve_dest(dest)
  if not pid then return nil, err end
  local me = self_proc()
  if S.cancel(pid, me and me.pid, reason) then return true end
  return P.cancel_remote(pid, me and me.pid, reason)
end

function process.terminate(dest)
  local pid, err = resolve_dest(dest)
  if not pid then return nil, err end
  local me = self_proc()
  if S.procs[pid] then
    S.terminate(pid, "terminated" .. (me and (" by " .. me.pid) or ""))
    if me and me.pid == pid then error(S.KILL, 0) end
    return true
  end
  return P.terminate_remote(pid)
end

function process.monitor(dest)
  local pid, err = resolve_dest(dest)
  if not pid then return nil, err end
  local me = self_proc()
  if not me then return nil, new_error("Invalid", "monitor needs a calling process") end
  local target = S.procs[pid]
  if target then
    target.monitors = target.monitors or {}
    target.monitors[me.pid] = true
    return true
  end
  return P.monitor_remote(pid, me.pid, true)
end

function process.unmonitor(dest)
  local pid, err = resolve_dest(dest)
  if not pid then return nil, err end
  local me = self_proc()
  local target = S.procs[pid]
  if target then
    if target.monitors then target.monitors[me.pid] = nil end
    return true
  end
  return P.monitor_remote(pid, me.pid, false)
end

function S.add_monitor(pid, watcher)
  local target = S.procs[pid]
  if not target then return false end
  target.monitors = target.monitors or {}
  target.monitors[watcher] = true
  return true
end
function S.remove_monitor(pid, watcher)
  local target = S.procs[pid]
  if target and target.monitors then target.monitors[watcher] = nil end
  return true
end
function S.add_link(pid, other)
  local target = S.procs[pid]
  if not target then return false end
  link(target, other)
  return true
end
function S.remove_link(pid, other)
  local target = S.procs[pid]
  if target and target.links then target.links[other] = nil end
  return true
end

function process.link(dest)
  local pid, err = resolve_dest(dest)
  if not pid then return nil, err end
  local me = self_proc()
  if not me then return nil, new_error("Invalid", "link needs a calling process") end
  local target = S.procs[pid]
  if target then
    link(target, me.pid); link(me, pid)
    return true
  end
  local ok, lerr = P.link_remote(pid, me.pid, true)
  if not ok then return nil, lerr end
  link(me, pid)
  return true
end

function process.unlink(dest)
  local pid, err = resolve_dest(dest)
  if not pid then return nil, err end
  local me = self_proc()
  if me.links then me.links[pid] = nil end
  local target = S.procs[pid]
  if target then
    if target.links then target.links[me.pid] = nil end
    return true
  end
  return P.link_remote(pid, me.pid, false)
end

function process.get_options()
  local me = self_proc()
  return {trap_links = me and me.trap_links or false}
end

function process.set_options(opts)
  local me = self_proc()
  if not me then return nil, new_error("Invalid", "set_options needs a calling process") end
  if type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  for k, v in pairs(opts) do
    if k == "trap_links" then me.trap_links = v and true or false
    else return nil, new_error("Invalid", "unknown process option '" .. tostring(k) .. "'") end
  end
  return true
end

---------------------------------------------------------------------------
-- mailboxes
---------------------------------------------------------------------------
function process.inbox()
  local me = self_proc()
  if not me then error("process.inbox() outside of a process", 2) end
  return me.inbox
end

function process.events()
  local me = self_proc()
  if not me then error("process.events() outside of a process", 2) end
  return S.events_channel(me)
end

function process.listen(topic, opts)
  local me = self_proc()
  if not me then error("process.listen() outside of a process", 2) end
  if type(topic) ~= "string" or topic:sub(1, 1) == "@" then
    return nil, new_error("Invalid", "cannot listen on topic '" .. tostring(topic) .. "'")
  end
  me.listeners = me.listeners or {}
  if me.listeners[topic] then return nil, new_error("AlreadyExists", "topic '" .. topic .. "' is already listened") end
  local ch = S.new_channel(math.huge)
  me.listeners[topic] = {ch = ch, message = opts and opts.message or false}
  return ch
end

function process.unlisten(ch)
  local me = self_proc()
  if not me or not me.listeners then return false end
  for topic, l in pairs(me.listeners) do
    if l.ch == ch then me.listeners[topic] = nil; ch:close(); return true end
  end
  return false
end

---------------------------------------------------------------------------
-- hot upgrade: same pid, mailbox, links and monitors; new code
---------------------------------------------------------------------------
function process.upgrade(id, ...)
  local task = current()
  local me = task and task.proc
  if not me then return nil, new_error("Invalid", "process.upgrade() outside of a process") end
  id = id and resolve_id(id, "process id") or me.entry
  local fac, err = S.get_factory(id, "process.lua")
  if not fac then return nil, err end
  local ok, args = pcall(copy, pack(...))
  if not ok then return nil, new_error("Invalid", tostring(args)) end
  for t in pairs(me.tasks) do if t ~= task then S.kill_task(t) end end
  me.tasks = {}
  task.main = false
  task.on_done = function() end
  me.entry = id
  me.main_task = S.start_task(me, main_of(fac), args, {main = true, ctx = me.ctx, fac = fac})
  task.dead = true
  suspend()
end

---------------------------------------------------------------------------
-- names (LOCAL scope lives on this node; cluster scopes arrive with multi-node)
---------------------------------------------------------------------------
local registry = {LOCAL = 0, CONSISTENT = 1, EVENTUAL = 2, STRONG = 3}
function registry.register(name, pid, scope)
  if type(name) ~= "string" or name == "" then return nil, new_error("Invalid", "name must be a non-empty string") end
  local me = self_proc()
  pid = pid or (me and me.pid)
  if not pid then return nil, new_error("Invalid", "no pid to register") end
  local ok, err = P.register_name(name, pid, scope or 0)
  if type(ok) == "number" then ok, err = S.await_token(ok) end   -- a cluster scope
  if not ok then return nil, err end
  local p = S.procs[pid]
  if p then p.named = true end
  return true
end
function registry.lookup(name)
  local pid = P.lookup_name(name)
  if not pid then return nil, new_error("NotFound", "no process registered as '" .. tostring(name) .. "'") end
  return pid
end
function registry.unregister(name, scope)
  local me = self_proc()
  local r = P.unregister_name(name, scope or 0, me and me.pid)
  if type(r) == "number" then r = S.await_token(r) end   -- a cluster scope
  return r and true or false
end
process.registry = registry

return process
