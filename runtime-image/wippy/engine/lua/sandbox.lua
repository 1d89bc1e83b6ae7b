-- The sandbox: what Lua code of an entry can see. Built once per engine; every process and
-- function instance gets a fresh global table whose misses fall through to the shared,
-- read-only base. Only granted modules can be required.
local S, P = ...

local setmetatable, getmetatable, type, pairs, next, error, tostring, rawget, rawset, pcall, xpcall, select =
  setmetatable, getmetatable, type, pairs, next, error, tostring, rawget, rawset, pcall, xpcall, select
local pack, unpack = table.pack, table.unpack
-- the C function: `s:find` reaches the sandbox's budgeted one (a Lua matcher for costly patterns)
local sfind = string.find
local co_create, co_resume, co_yield, co_status, co_running, co_close, co_wrap_raw =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.status, coroutine.running, coroutine.close, coroutine.wrap
local SUSPEND, KILL = S.SUSPEND, S.KILL
local YIELD = S.YIELD
local new_error = S.new_error

-- Module code runs with this state's own globals and makes its objects through this
-- setmetatable: a class (`X.__index = X`) is split so instances never hand out the shared
-- metatable (S.class), and a metatable flagged `__copy_keep` survives copies between processes.
-- A module must never give Lua code a table it shares with other processes unless that table
-- is a read-only proxy (S.protect); module objects get their methods through a class.
_G.setmetatable = function(t, mt)
  if type(mt) == "table" then
    S.class(mt)
    if rawget(mt, "__copy_keep") then S.keep_on_copy(mt) end
  end
  return setmetatable(t, mt)
end

-- Read-only view of a table, nested tables included. Objects with their own metatable
-- (channels, errors, constants tables of modules) are shared as they are.
local function protect(t, name)
  local view = {}
  for k, v in pairs(t) do
    if type(v) == "table" and getmetatable(v) == nil then view[k] = protect(v, name .. "." .. tostring(k))
    else view[k] = v end
  end
  local proxy = setmetatable({}, {
    __index = view,
    __newindex = function(_, k) error("attempt to modify read-only table '" .. name .. "' (field " .. tostring(k) .. ")", 2) end,
    __pairs = function() return next, view, nil end,
    __len = function() return #view end,
    __metatable = false,
  })
  S.protected[proxy] = true
  return proxy
end
S.protect = protect

-- Scheduler parks bubble through user coroutines: a task parked inside a user coroutine
-- parks the whole task, and the wake-up values are handed back down.
local function resume_through(co, ...)
  local r = pack(co_resume(co, ...))
  while r[1] and r[2] == SUSPEND and co_status(co) == "suspended" do
    r = pack(co_resume(co, co_yield(SUSPEND)))
  end
  if not r[1] and (r[2] == KILL or (S.current() and S.current().dead)) then error(KILL, 0) end
  return unpack(r, 1, r.n)
end

local user_coroutine = {
  create = function(f) return S.new_co(f) end,
  resume = resume_through,
  yield = co_yield,
  status = co_status,
  running = co_running,
  isyieldable = coroutine.isyieldable,
  close = function(co)
    local ok, e = co_close(co)
    if not ok and (e == KILL or (S.current() and S.current().dead)) then error(KILL, 0) end
    return ok, e
  end,
  wrap = function(f)
    local co = S.new_co(f)
    return function(...)
      local r = pack(resume_through(co, ...))
      if not r[1] then error(r[2], 0) end
      return unpack(r, 2, r.n)
    end
  end,
  spawn = function(f, ...)
    local task = S.current()
    if not task then error("coroutine.spawn outside of a process", 2) end
    S.start_task(task.proc, f, pack(...), {ctx = task.ctx, fac = task.fac, actor = task.actor, scope = task.scope})
    return true
  end,
}

-- pcall/xpcall never swallow a kill: a task over its budget must end.
local function guard(ok, ...)
  if not ok then
    local e = ...
    local task = S.current()
    if e == KILL or (task and task.dead) then error(KILL, 0) end
  end
  return ok, ...
end
local function safe_pcall(f, ...) return guard(pcall(f, ...)) end
-- The message handler runs once the error has unwound, from Lua, where the process can be
-- preempted (C runs it where no yield is possible); without the debug library code cannot tell
-- the difference. Like Lua's, xpcall returns the handler's first value.
local function safe_xpcall(f, h, ...)
  if type(h) ~= "function" then
    error("bad argument #2 to 'xpcall' (function expected, got " .. (h == nil and "no value" or type(h)) .. ")", 2)
  end
  local r = pack(guard(pcall(f, ...)))
  if r[1] then return unpack(r, 1, r.n) end
  local _, v = guard(pcall(h, r[2]))   -- a failing handler's error is returned instead
  return false, v
end

-- tostring and string.format's %s call __tostring from Lua, so it runs where the process can be
-- preempted (luaL_tolstring calls it where no yield is possible)
-- (`format` is the name C's argument errors give)
local c_tostring, format, c_gmatch, raw_getmetatable = tostring, string.format, string.gmatch, debug.getmetatable
local function safe_tostring(v)
  local mt = raw_getmetatable(v)
  local h = mt and rawget(mt, "__tostring")
  if h == nil then return c_tostring(v) end
  local text = h(v)
  local t = type(text)
  if t == "number" then return c_tostring(text) end
  if t ~= "string" then error("'__tostring' must return a string", 2) end
  return text
end

local function safe_format(fmt, ...)
  local n, args = select("#", ...), nil
  for i = 1, n do
    local t = type((select(i, ...)))
    if t == "table" or t == "userdata" then args = pack(...); break end
  end
  if args == nil or type(fmt) ~= "string" then return format(fmt, ...) end
  local i = 0
  for conv in c_gmatch(fmt, "%%[^%a%%]*([%a%%])") do
    if conv ~= "%" then
      i = i + 1
      if conv == "s" and i <= n then args[i] = safe_tostring(args[i]) end
    end
  end
  -- through pcall, so that an argument error names the caller's line, not this one
  local ok, text = pcall(format, fmt, unpack(args, 1, n))
  if not ok then error(text, 2) end
  return text
end

local function safe_rawset(t, k, v)
  if S.protected[t] then error("attempt to modify a read-only table", 2) end
  return rawset(t, k, v)
end

-- Code sees only metatables it set itself: the runtime's (channels, errors, times, ...) are
-- shared by every process of the engine and must not be reachable for changing.
local user_metatables = setmetatable({}, {__mode = "k"})

local function safe_setmetatable(t, mt)
  if S.protected[t] then error("cannot change a protected metatable", 2) end
  -- a finalizer would run whenever the collector gets to it: in another process, outside budgets
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then
    error("__gc finalizers are not allowed in the sandbox", 2)
  end
  if type(t) == "table" then
    local cur = getmetatable(t)
    if cur ~= nil and not user_metatables[cur] then error("cannot change a protected metatable", 2) end
  end
  if mt ~= nil then user_metatables[mt] = true end
  return setmetatable(t, mt)
end

local function safe_getmetatable(v)
  local mt = debug.getmetatable(v)
  if mt == nil then return nil end
  if not user_metatables[mt] then return false end
  local guard = rawget(mt, "__metatable")
  if guard ~= nil then return guard end
  return mt
end

-- A full collection is one C call as long as the heap is big: code gets a basic step instead.
-- A step can take milliseconds, so it counts as a full interval of the count hook (which then
-- runs: a loop of steps is preempted and ended like any other).
local budget_hook = S.budget_hook
local function safe_collectgarbage(opt)
  opt = opt or "collect"
  if opt == "count" then return collectgarbage("count") end
  if opt ~= "collect" and opt ~= "step" then
    error("collectgarbage('" .. tostring(opt) .. "') is not allowed", 2)
  end
  local done = collectgarbage("step", 0)
  if S.current() and (S.slice_timeout > 0 or S.max_instructions > 0) then budget_hook() end
  if opt == "collect" then return 0 end
  -- in generational mode a step is a whole (minor or major) collection
  return done or S.gc_generational()
end

local bounded = P.patterns   -- budgeted pattern matching and size-capped string operations

local safe_string = {}
for k, v in pairs(string) do if k ~= "dump" then safe_string[k] = v end end
safe_string.format = safe_format
for _, k in ipairs({"find", "match", "gmatch", "gsub", "rep"}) do safe_string[k] = bounded[k] end

local safe_table = {}
for k, v in pairs(table) do safe_table[k] = v end
safe_table.concat, safe_table.sort, safe_table.move = bounded.concat, bounded.sort, bounded.move

-- os.time with a table: missing year/month/day are today's, a missing hour/min/sec is 0 (Wippy's
-- documented defaults; plain Lua needs year, month and day and defaults the hour to 12)
local os_time, os_date = os.time, os.date
local function wippy_time(t)
  if type(t) ~= "table" then return os_time(t) end
  local now = os_date("*t")
  return os_time({year = t.year or now.year, month = t.month or now.month, day = t.day or now.day,
                  hour = t.hour or 0, min = t.min or 0, sec = t.sec or 0, isdst = t.isdst})
end
local safe_os = {time = wippy_time, date = os.date, clock = os.clock, difftime = os.difftime, platform = "wippy"}

local base = {
  assert = assert, error = error, ipairs = ipairs, next = next, pairs = pairs,
  pcall = safe_pcall, xpcall = safe_xpcall, rawequal = rawequal, rawget = rawget, rawlen = rawlen,
  rawset = safe_rawset, select = select, setmetatable = safe_setmetatable, getmetatable = safe_getmetatable,
  tonumber = tonumber, tostring = safe_tostring, type = type, unpack = unpack,
  collectgarbage = safe_collectgarbage, _VERSION = _VERSION,
  string = safe_string, table = safe_table, math = math, utf8 = utf8, os = safe_os,
  coroutine = user_coroutine,
}
S.base_raw = base

-- Called once all always-present globals (process, channel, errors, ...) are installed.
function S.seal_base()
  local sealed = {}
  for k, v in pairs(base) do
    if type(v) == "table" and getmetatable(v) == nil then sealed[k] = protect(v, k) else sealed[k] = v end
  end
  S.base = sealed
  S.base_mt = {__index = sealed}
  -- Method calls on strings (`("").dump`, `s:rep(n)`) see the sandbox's string table; the
  -- metatable itself is out of reach.
  local smt = getmetatable("")
  smt.__index = sealed.string
  smt.__metatable = false
  for name, m in pairs(S.modules) do
    if type(m) == "table" and getmetatable(m) == nil then S.modules[name] = protect(m, name) end
  end
  -- A traceback (errors.new keeps one) searches every table in package.loaded for a global name
  -- of each frame: ~5us an error. Nothing here loads native modules, so the table goes empty.
  for name in pairs(package.loaded) do package.loaded[name] = nil end
end

-- text-only load into a sandboxed environment
local MAX_CHUNK = 4 * 1024 * 1024   -- compiling is one C call: source size bounds it

base.load = function(chunk, name, mode, env)
  if mode ~= nil and mode ~= "t" then return nil, "only text chunks can be loaded" end
  if type(chunk) == "string" and chunk:byte(1) == 27 then return nil, "binary chunks are not allowed" end
  if type(chunk) == "string" and #chunk > MAX_CHUNK then
    return nil, "chunk larger than " .. MAX_CHUNK .. " bytes"
  elseif type(chunk) == "function" then
    -- the reader runs here, in Lua, where the process can be preempted (lua_load calls it
    -- where no yield is possible); its pieces are then compiled as one string
    local pieces, n, size = {}, 0, 0
    while true do
      if YIELD.f then YIELD.y() end
      local ok, piece = pcall(chunk)
      if not ok then
        if piece == KILL or (S.current() and S.current().dead) then error(KILL, 0) end
        return nil, piece
      end
      if piece == nil or piece == "" then break end
      if type(piece) == "number" then piece = tostring(piece)
      elseif type(piece) ~= "string" then return nil, "reader function must return a string" end
      size = size + #piece
      if size > MAX_CHUNK then return nil, "chunk larger than " .. MAX_CHUNK .. " bytes" end
      n = n + 1; pieces[n] = piece
    end
    chunk = table.concat(pieces, "", 1, n)
    if chunk:byte(1) == 27 then return nil, "binary chunks are not allowed" end
    name = name or "=(load)"
  elseif type(chunk) ~= "string" then
    return load(chunk, name, mode, env)   -- Lua's own argument error
  end
  env = env or setmetatable({}, S.base_mt)
  -- Lua's own checks and messages first, then the chunk with yield points (yieldpoints.lua)
  -- inside a function that binds them, the header sharing line 1 to keep line numbers
  local f, err = load(chunk, name, "t", env)
  if not f then return nil, err end
  local marked, why = S.with_yield_points(chunk)
  if not marked then return nil, why end
  f, err = load("local __wy = ...; return function(...) " .. marked .. "\nend", name or chunk, "t", env)
  if not f then return nil, err end
  return f(S.YIELD_POINT)
end

---------------------------------------------------------------------------
-- compiled entries and their instances
---------------------------------------------------------------------------
local function wrap_source(src)
  -- keep line numbers: the wrapper header shares line 1 with the source. `__wy` is what the
  -- front end's yield points store into (S.YIELD_POINT); a local no source can name (lang/emit.py)
  if src:sub(1, 1) == "#" then src = "--" .. src end
  return "local __wy = ...; return function(_ENV, ...) " .. src .. "\nend"
end

-- Compile an entry's source (the front end's output, with yield points) into a factory.
-- Returns factory or nil, message.
function S.compile(id, kind, source, method, modules, imports, version)
  local chunk, err = load(wrap_source(source), "=" .. id, "t", {})
  if not chunk then return nil, err end
  local fac = {id = id, kind = kind, fn = chunk(S.YIELD_POINT), method = method, version = version,
               modules = {}, imports = {}, ns = id:match("^(.*):") or ""}
  if modules then for _, m in pairs(modules) do fac.modules[m] = true end end
  if imports then for alias, target in pairs(imports) do fac.imports[alias] = target end end
  return fac, nil
end

function S.install(fac)
  S.factories[fac.id] = fac
  return true
end

function S.invalidate(id)
  S.factories[id] = nil
  if S.function_pools then S.function_pools[id] = nil end
end

-- Permission checks; the security module replaces these with policy evaluation.
function S.check() return not S.strict end
function S.denied(action, resource)
  return new_error("PermissionDenied", "permission denied: " .. action .. " on " .. tostring(resource))
end

-- A bare name refers to an entry in the namespace of the code that names it (nil if not a name).
function S.full_id(id)
  if type(id) ~= "string" or id == "" then return nil end
  if sfind(id, ":", 1, true) then return id end
  local task = S.current()
  local ns = task and task.fac and task.fac.ns
  if ns and ns ~= "" then return ns .. ":" .. id end
  return id
end

function S.resolve_id(id, what)
  local full = S.full_id(id)
  if not full then error(what .. " must be an entry id string", 3) end
  return full
end

-- Factory for an id, compiling through Python on first use in this engine.
function S.get_factory(id, want_kind)
  local fac = S.factories[id]
  if not fac then
    local ok, err = P.compile(id)
    if not ok then return nil, new_error(err and err.kind or "NotFound", err and err.message or ("entry " .. id .. " not found")) end
    fac = S.factories[id]
    if not fac then return nil, new_error("NotFound", "entry " .. id .. " not found") end
  end
  if want_kind and fac.kind ~= want_kind then
    return nil, new_error("Invalid", "entry " .. id .. " is a " .. tostring(fac.kind) .. ", not a " .. want_kind)
  end
  return fac
end

local function make_require(fac, env)
  local loaded
  return function(name)
    if type(name) ~= "string" then error("require expects a module name", 2) end
    if loaded and loaded[name] ~= nil then return loaded[name] end
    local value
    if fac.modules[name] or S.ambient[name] then
      value = S.ambient[name] and S.base[name] or S.modules[name]
      if value == nil then error("module '" .. name .. "' does not exist", 2) end
    elseif fac.imports[name] then
      local lib, err = S.get_factory(fac.imports[name], "library.lua")
      if not lib then error(tostring(err), 2) end
      local _, v = S.instantiate(lib)
      value = v == nil and true or v
      -- the test library's mocks replace globals of the entry that imported it (nothing else may)
      if lib.id == "wippy.test:test" and type(v) == "table" and type(rawget(v, "__bind")) == "function" then v.__bind(env) end
    else
      error("module '" .. name .. "' is not available to " .. fac.id .. " (not listed in its modules or imports)", 2)
    end
    loaded = loaded or {}
    loaded[name] = value
    return value
  end
end

-- Run an entry's chunk in a fresh global table; returns env and the chunk's value.
function S.instantiate(fac, ...)
  local env = setmetatable({}, S.base_mt)
  env.require = make_require(fac, env)
  env._G = env
  return env, fac.fn(env, ...)
end

-- The callable an entry exposes: a returned function, or `method` in the returned table/globals.
function S.entry_callable(fac, env, value)
  if type(value) == "function" then return value end
  local m = fac.method
  if type(value) == "table" and m and type(value[m]) == "function" then return value[m] end
  if m and type(rawget(env, m)) == "function" then return rawget(env, m) end
  error(fac.id .. ": method '" .. tostring(m) .. "' not found (the chunk must return a function, or define it)", 0)
end

return protect
