-- The `contract` module: contract.get(id) -> Contract, contract.open(binding[?query], scope?,
-- options?) -> Instance whose methods call the bound function.lua entries (sync, or as a
-- future with the `_async` suffix), contract.find_implementations, contract.is.
local S, P, py = ...
local type, setmetatable, error, tostring, pairs, ipairs, tonumber = type, setmetatable, error, tostring, pairs, ipairs, tonumber
local sub, find, gmatch, match = string.sub, string.find, string.gmatch, string.match
local mtype = math.type
local new_error, copy = S.new_error, S.copy

local state = setmetatable({}, {__mode = "k"})
local function denied(action, resource)
  return new_error("PermissionDenied", "permission denied: " .. action .. " on " .. tostring(resource))
end

local function url_decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end
-- "id?debug=true&n=5" -> id, {debug = true, n = 5}
local function split_query(id)
  local q = find(id, "?", 1, true)
  if not q then return id, nil end
  local scope = {}
  for pair in gmatch(sub(id, q + 1), "[^&]+") do
    local k, v = match(pair, "^([^=]*)=(.*)$")
    if not k then k, v = pair, "" end
    k, v = url_decode(k), url_decode(v)
    if v == "true" then v = true elseif v == "false" then v = false
    elseif match(v, "^-?%d+$") then v = math.tointeger(tonumber(v)) or tonumber(v)
    elseif match(v, "^-?%d+%.%d+$") then v = tonumber(v) end
    scope[k] = v
  end
  return sub(id, 1, q - 1), scope
end

local function merged(a, b)
  if not a then return b end
  if not b then return a end
  local r = {}
  for k, v in pairs(a) do r[k] = v end
  for k, v in pairs(b) do r[k] = v end
  return r
end

local function sleep(secs)
  local task = S.current()
  S.add_timer(secs, function() S.wake(task, true) end)
  S.suspend()
end

-- a sync call with the instance's retry options: only retryable errors are retried
local function call_with_retry(st, fid, ...)
  local funcs = S.modules.funcs
  local ex = funcs.new():with_context(st.ctx or {})
  if st.actor ~= nil then ex = ex:with_actor(st.actor) end
  if st.scope_sec ~= nil then ex = ex:with_scope(st.scope_sec) end
  local retry = st.options and st.options.retry
  local attempts = retry and retry.max_attempts or 1
  local delay = retry and retry.initial_delay and S.duration_seconds(
    mtype(retry.initial_delay) and (retry.initial_delay .. "ms") or retry.initial_delay) or 0
  local v, err
  for attempt = 1, attempts do
    v, err = ex:call(fid, ...)
    if err == nil or not (S.is_error(err) and err:retryable()) or attempt == attempts then break end
    if delay > 0 then sleep(delay); delay = delay * 2 end
  end
  return v, err
end

-- the i-th JSON schema (application/schema+json) checks the i-th value; nil when all fit
local function check_schemas(list, values)
  for i, schema in ipairs(list or {}) do
    if (schema.format == nil or schema.format == "application/schema+json") and schema.definition ~= nil then
      local why = py.validate(schema.definition, values[i])
      if why then return tostring(i) .. " does not match its schema: " .. why end
    end
  end
end

local INSTANCE_MT = {__name = "contract.Instance", __metatable = false,
  __newindex = function() error("contract.Instance is read-only", 2) end,
  __index = function(self, name)
    local st = state[self]
    if not st or type(name) ~= "string" then return nil end
    local async = false
    local fid = st.methods[name]
    if not fid and sub(name, -6) == "_async" then
      fid = st.methods[sub(name, 1, -7)]
      async = fid ~= nil
    end
    if not fid then
      return function() return nil, new_error("NotFound", "method " .. name .. " not found in binding " .. st.binding) end
    end
    local method = async and sub(name, 1, -7) or name
    local sch = st.schemas[method]
    return function(inst, ...)
      if inst ~= self then return nil, new_error("Invalid", "call contract methods with ':' (instance:" .. method .. "(...))") end
      if not S.check("contract.call", method) then return nil, denied("contract.call", method) end
      local why = sch and check_schemas(sch.input, table.pack(...))
      if why then return nil, new_error("Invalid", method .. ": argument " .. why) end
      if async then
        local funcs = S.modules.funcs
        local ex = funcs.new():with_context(st.ctx or {})
        if st.actor ~= nil then ex = ex:with_actor(st.actor) end
        if st.scope_sec ~= nil then ex = ex:with_scope(st.scope_sec) end
        return ex:async(fid, ...)
      end
      local v, err = call_with_retry(st, fid, ...)
      if err ~= nil and S.is_error(err) and err:kind() == "" then
        return nil, new_error("Internal", err:message())
      end
      if err == nil and sch and sch.output[1] then
        local owhy = check_schemas({sch.output[1]}, {v, n = 1})
        if owhy then return nil, new_error("Internal", method .. ": result " .. owhy) end
      end
      return v, err
    end
  end,
}

-- open a binding with a context (scope values), options and security
local function open(binding_id, ctx, options, actor, scope_sec)
  local b, err = py.binding(binding_id)
  if not b then return nil, err end
  local methods, contracts, schemas = {}, {}, {}
  for _, c in ipairs(b.contracts) do
    contracts[c.contract] = true
    for name, fid in pairs(c.methods) do methods[name] = fid end
    local def = py.definition(c.contract)
    for _, m in ipairs(def and def.methods or {}) do
      if c.methods[m.name] then schemas[m.name] = {input = m.input_schemas, output = m.output_schemas} end
    end
  end
  local inst = setmetatable({}, INSTANCE_MT)
  state[inst] = {binding = b.id, methods = methods, contracts = contracts, ctx = ctx, schemas = schemas,
                 options = options, actor = actor, scope_sec = scope_sec}
  return inst, nil
end

local contract = {}

function contract.open(binding_id, scope, options)
  if type(binding_id) ~= "string" or binding_id == "" then return nil, new_error("Invalid", "binding id must be a non-empty string") end
  if scope ~= nil and type(scope) ~= "table" then return nil, new_error("Invalid", "scope must be a table") end
  if options ~= nil and type(options) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  local id, query = split_query(binding_id)
  if id == "" or find(id, "%s") then return nil, new_error("Invalid", "invalid binding id " .. binding_id) end
  id = S.full_id(id)
  if not S.check("contract.open", id) then return nil, denied("contract.open", id) end
  return open(id, merged(query, scope and copy(scope)), options and copy(options))
end

function contract.find_implementations(contract_id)
  if type(contract_id) ~= "string" or contract_id == "" then return nil, new_error("Invalid", "contract id must be a non-empty string") end
  local cid = S.full_id(contract_id)
  if not S.check("contract.implementations", cid) then return nil, denied("contract.implementations", cid) end
  return py.implementations(cid)
end

function contract.is(instance, contract_id)
  local st = state[instance]
  if not st or not st.contracts or type(contract_id) ~= "string" then return false end
  return st.contracts[S.full_id(contract_id)] == true
end

local CONTRACT = {}
local CONTRACT_MT = {__index = CONTRACT, __name = "contract.Contract", __metatable = false,
                     __newindex = function() error("contract.Contract is read-only", 2) end}
local function cst(self)
  local st = state[self]
  if not st or not st.def then error("expected a Contract (use contract:method)", 3) end
  return st
end
local function derive(self, key, value)
  local st = cst(self)
  local n = setmetatable({}, CONTRACT_MT)
  local ns = {}
  for k, v in pairs(st) do ns[k] = v end
  ns[key] = value
  state[n] = ns
  return n
end

function CONTRACT.id(self) return cst(self).def.id end
function CONTRACT.methods(self) return copy(cst(self).def.methods) end
function CONTRACT.method(self, name)
  for _, m in ipairs(cst(self).def.methods) do
    if m.name == name then return copy(m), nil end
  end
  return nil, new_error("NotFound", "method " .. tostring(name) .. " not found in contract " .. cst(self).def.id)
end
function CONTRACT.implementations(self)
  return contract.find_implementations(cst(self).def.id)
end
function CONTRACT.open(self, binding_id, scope)
  local st = cst(self)
  if scope ~= nil and type(scope) ~= "table" then return nil, new_error("Invalid", "scope must be a table") end
  local query
  if binding_id == nil then
    local bid, err = py.default_binding(st.def.id)
    if not bid then return nil, err end
    binding_id = bid
  elseif type(binding_id) ~= "string" or binding_id == "" then
    return nil, new_error("Invalid", "binding id must be a string")
  else
    binding_id, query = split_query(binding_id)
    binding_id = S.full_id(binding_id)
  end
  if not S.check("contract.open", binding_id) then return nil, denied("contract.open", binding_id) end
  local inst, err = open(binding_id, merged(merged(st.ctx, query), scope and copy(scope)), st.options, st.actor, st.scope_sec)
  if not inst then return nil, err end
  if not state[inst].contracts[st.def.id] then
    return nil, new_error("Invalid", "binding " .. binding_id .. " does not implement " .. st.def.id)
  end
  return inst, nil
end
function CONTRACT.with_context(self, t)
  if not S.check("contract.context", "context") then error(tostring(denied("contract.context", "context")), 2) end
  if type(t) ~= "table" then error("with_context expects a table", 2) end
  return derive(self, "ctx", merged(cst(self).ctx, copy(t)))
end
function CONTRACT.with_options(self, t)
  if type(t) ~= "table" then error("with_options expects a table", 2) end
  return derive(self, "options", merged(cst(self).options, copy(t)))
end
function CONTRACT.with_actor(self, a)
  if not S.check("contract.security", "security") then error(tostring(denied("contract.security", "security")), 2) end
  return derive(self, "actor", a)
end
function CONTRACT.with_scope(self, s)
  if not S.check("contract.security", "security") then error(tostring(denied("contract.security", "security")), 2) end
  return derive(self, "scope_sec", s)
end

function contract.get(contract_id)
  if type(contract_id) ~= "string" or contract_id == "" then return nil, new_error("Invalid", "contract id must be a non-empty string") end
  local cid = S.full_id(contract_id)
  if not S.check("contract.get", cid) then return nil, denied("contract.get", cid) end
  local def, err = py.definition(cid)
  if not def then return nil, err end
  local c = setmetatable({}, CONTRACT_MT)
  state[c] = {def = def}
  return c, nil
end

return contract
