-- The `eval_runner` module: run Lua source given at run time in a fresh sandbox, with only
-- the modules it is granted (by name and by class), registry imports, custom modules and
-- context values. Compiled chunks are cached by source (LRU; size and expiry from .wippy.yaml
-- lua.eval, 256 and none by default).
local S, P, py = ...
local type, setmetatable, pairs, ipairs, tostring, pcall, load, error, select, rawget =
  type, setmetatable, pairs, ipairs, tostring, pcall, load, error, select, rawget
local pack, unpack = table.pack, table.unpack
local new_error, copy, KILL = S.new_error, S.copy, S.KILL

local CLASSES = py.classes()
local DEFAULT_CLASSES = {deterministic = true, encoding = true, time = true, nondeterministic = true}
local BLOCKED = {process = true, storage = true, network = true}

local function denied(action, resource)
  return new_error("PermissionDenied", "permission denied: " .. action .. " on " .. tostring(resource))
end

-- compile cache: source -> factory function(_ENV, ...) (keeps line numbers); least recently
-- used first out, entries older than CACHE_TTL seconds compiled again (.wippy.yaml lua.eval)
local CACHE_MAX, CACHE_TTL = py.cache_settings()
local now = P.monotonic
local cache, ncached = {}, 0           -- source -> {fn, born, newer, older}
local newest, oldest                   -- the entries, as a list from most to least recently used

local function unlink(e)
  if e.newer then e.newer.older = e.older else newest = e.older end
  if e.older then e.older.newer = e.newer else oldest = e.newer end
  e.newer, e.older = nil, nil
end

local function push(e)
  e.older = newest
  if newest then newest.newer = e else oldest = e end
  newest = e
end

local function cached(source)
  local e = cache[source]
  if not e then return nil end
  if CACHE_TTL > 0 and now() - e.born > CACHE_TTL then
    unlink(e); cache[source] = nil; ncached = ncached - 1
    return nil
  end
  if e ~= newest then unlink(e); push(e) end
  return e.fn
end

local function remember(source, fn)
  if CACHE_MAX <= 0 then return end
  if ncached >= CACHE_MAX then
    local e = oldest
    unlink(e); cache[e.source] = nil; ncached = ncached - 1
  end
  local e = {fn = fn, source = source, born = CACHE_TTL > 0 and now() or 0}
  cache[source] = e; ncached = ncached + 1
  push(e)
end

local function compile(source)
  local fn = cached(source)
  if fn then return fn end
  if source:byte(1) == 27 then return nil, "binary chunks are not allowed" end
  local body = source:sub(1, 1) == "#" and ("--" .. source) or source
  -- Lua's own checks and messages first, then the source with yield points (as entries have)
  local chunk, err = load(body, "=eval", "t", {})
  if not chunk then return nil, err end
  local marked, why = S.with_yield_points(body)
  if not marked then return nil, why end
  chunk, err = load("local __wy = ...; return function(_ENV, ...) " .. marked .. "\nend", "=eval", "t", {})
  if not chunk then return nil, err end
  fn = chunk(S.YIELD_POINT)
  remember(source, fn)
  return fn
end

local function module_allowed(name, allowed)
  local classes = CLASSES[name]
  if not classes then return false, "module '" .. name .. "' does not exist" end
  local any = false
  for _, c in ipairs(classes) do
    if BLOCKED[c] and not allowed[c] then return false, "module '" .. name .. "' is of class " .. c .. ", which is not allowed" end
    if DEFAULT_CLASSES[c] or allowed[c] then any = true end
  end
  if not any then return false, "module '" .. name .. "' (classes " .. table.concat(classes, ", ") .. ") is not allowed" end
  return true
end

local function list_of(v, what)
  if v == nil then return {} end
  if type(v) ~= "table" then return nil, new_error("Invalid", what .. " must be a list of strings") end
  for _, x in ipairs(v) do
    if type(x) ~= "string" then return nil, new_error("Invalid", what .. " must be a list of strings") end
  end
  return v
end

-- checks shared by compile and run; returns the allowed module set
local function check_modules(modules, allow_classes)
  local allowed = {}
  for _, c in ipairs(allow_classes) do
    if not S.check("eval.class", c) then return nil, denied("eval.class", c) end
    allowed[c] = true
  end
  local set = {}
  for _, m in ipairs(modules) do
    if not S.check("eval.module", m) then return nil, denied("eval.module", m) end
    local ok, why = module_allowed(m, allowed)
    if not ok then
      if CLASSES[m] then return nil, new_error("PermissionDenied", why) end
      return nil, new_error("Invalid", why)
    end
    set[m] = true
  end
  return set
end

-- an imported library instantiated with its own modules plus any granted ones
local function import(spec, allowed_classes)
  local id, granted = spec, nil
  if type(spec) == "table" then id, granted = spec.id, spec.modules end
  if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "an import needs an entry id") end
  id = S.full_id(id)
  if not S.check("eval.import", id) then return nil, denied("eval.import", id) end
  local lib, err = S.get_factory(id, "library.lua")
  if not lib then return nil, err end
  if granted ~= nil then
    local list, lerr = list_of(granted, "import modules")
    if not list then return nil, lerr end
    local fac = {}
    for k, v in pairs(lib) do fac[k] = v end
    fac.modules = {}
    for k in pairs(lib.modules) do fac.modules[k] = true end
    for _, m in ipairs(list) do
      if not S.check("eval.module", m) then return nil, denied("eval.module", m) end
      if not CLASSES[m] then return nil, new_error("Invalid", "module '" .. m .. "' does not exist") end
      fac.modules[m] = true
    end
    lib = fac
  end
  local ok, _, value = pcall(S.instantiate, lib)
  if not ok then
    if _ == KILL then error(KILL, 0) end
    return nil, new_error("Internal", "import " .. id .. ": " .. tostring(_))
  end
  return value == nil and true or value
end

local runner = {}

function runner.run(opts)
  if type(opts) ~= "table" then return nil, new_error("Invalid", "run expects a table of options") end
  local source = opts.source
  if type(source) ~= "string" or source == "" then return nil, new_error("Invalid", "source is required") end
  if opts.method ~= nil and type(opts.method) ~= "string" then return nil, new_error("Invalid", "method must be a string") end
  for k in pairs(opts) do
    if k ~= "source" and k ~= "method" and k ~= "args" and k ~= "modules" and k ~= "imports" and k ~= "context"
       and k ~= "allow_classes" and k ~= "custom_modules" then
      return nil, new_error("Invalid", "unknown option '" .. tostring(k) .. "'")
    end
  end
  local modules, e1 = list_of(opts.modules, "modules")
  if not modules then return nil, e1 end
  local classes, e2 = list_of(opts.allow_classes, "allow_classes")
  if not classes then return nil, e2 end
  for _, f in ipairs({"imports", "context", "custom_modules", "args"}) do
    if opts[f] ~= nil and type(opts[f]) ~= "table" then return nil, new_error("Invalid", f .. " must be a table") end
  end
  if not S.check("eval.compile", "") then return nil, denied("eval.compile", "source") end
  local module_set, merr = check_modules(modules, classes)
  if not module_set then return nil, merr end
  local fn, cerr = compile(source)
  if not fn then return nil, new_error("Internal", "compile: " .. tostring(cerr)) end
  if not S.check("eval.run", "") then return nil, denied("eval.run", "source") end

  -- the sandbox: base globals, granted modules, imports and custom modules
  local loaded = {}
  for _, m in ipairs(modules) do loaded[m] = S.modules[m] end
  for alias, spec in pairs(opts.imports or {}) do
    local v, ierr = import(spec, classes)
    if v == nil then return nil, ierr end
    loaded[alias] = v
  end
  local env = setmetatable({}, S.base_mt)
  for name, t in pairs(opts.custom_modules or {}) do
    local v = copy(t)
    loaded[name] = v
    env[name] = v
  end
  env.ctx = S.modules.ctx
  env._G = env
  env.require = function(name)
    local v = loaded[name]
    if v == nil then error("module '" .. tostring(name) .. "' is not available to this code", 2) end
    return v
  end

  local task = S.current()
  if not task then return nil, new_error("Internal", "eval_runner.run needs a process context") end
  local saved = task.ctx
  if opts.context then
    local c = {}
    if saved then for k, v in pairs(saved) do c[k] = v end end
    for k, v in pairs(copy(opts.context)) do c[k] = v end
    task.ctx = c
  end
  local args = opts.args and copy(opts.args) or {}
  local r = pack(pcall(function()
    if not opts.method then return fn(env, unpack(args, 1, #args)) end
    local value = fn(env, unpack(args, 1, #args))
    local f = type(value) == "table" and value[opts.method] or rawget(env, opts.method)
    if type(f) ~= "function" then error("method '" .. opts.method .. "' not found", 0) end
    return f(unpack(args, 1, #args))
  end))
  task.ctx = saved
  if not r[1] then
    if r[2] == KILL or task.dead then error(KILL, 0) end
    if S.is_error(r[2]) then return nil, r[2] end
    return nil, new_error("Internal", tostring(r[2]))
  end
  if r[2] == nil and S.is_error(r[3]) then return nil, r[3] end
  local ok, v = pcall(copy, r[2])
  if not ok then return nil, new_error("Internal", "result: " .. tostring(v)) end
  return v, nil
end

local PROGRAM = {}
local info = setmetatable({}, {__mode = "k"})
local PROGRAM_MT = {__index = PROGRAM, __name = "eval.Program", __metatable = false,
                    __newindex = function() error("eval.Program is read-only", 2) end}
function PROGRAM.method(self) return info[self] and info[self].method end
function PROGRAM.modules(self) return info[self] and copy(info[self].modules) end

function runner.compile(source, method, opts)
  if type(source) ~= "string" or source == "" then return nil, new_error("Invalid", "source is required") end
  if method ~= nil and type(method) ~= "string" then return nil, new_error("Invalid", "method must be a string") end
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  opts = opts or {}
  local modules, e1 = list_of(opts.modules, "modules")
  if not modules then return nil, e1 end
  local classes, e2 = list_of(opts.allow_classes, "allow_classes")
  if not classes then return nil, e2 end
  if not S.check("eval.compile", "") then return nil, denied("eval.compile", "source") end
  local set, merr = check_modules(modules, classes)
  if not set then return nil, merr end
  local fn, cerr = compile(source)
  if not fn then return nil, new_error("Internal", "compile: " .. tostring(cerr)) end
  local p = setmetatable({}, PROGRAM_MT)
  info[p] = {method = method, modules = copy(modules)}
  return p, nil
end

return runner
