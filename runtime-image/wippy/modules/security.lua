-- The `security` module: the caller's actor and scope, permission checks, policies.
local S, P, py = ...
local setmetatable, type, pairs, ipairs, tostring = setmetatable, type, pairs, ipairs, tostring
local new_error, copy = S.new_error, S.copy

local ACTOR = {__name = "actor", __copy_keep = true}
ACTOR.__index = ACTOR
function ACTOR:id() return self._id end
function ACTOR:meta() return copy(self._meta or {}) end

local SCOPE = {__name = "scope", __copy_keep = true}
SCOPE.__index = SCOPE

local function new_actor(id, meta)
  if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "actor id must be a non-empty string") end
  return setmetatable({_id = id, _meta = meta and copy(meta) or {}}, ACTOR)
end

local function new_scope(ids)
  local list = {}
  for _, p in ipairs(ids or {}) do
    list[#list + 1] = type(p) == "table" and p._id or p
  end
  return setmetatable({_ids = list}, SCOPE)
end

-- what the Python side evaluates: plain tables
local function actor_table(a) return a and {id = a._id, meta = a._meta or {}} or nil end
local function scope_ids(s) return s and s._ids or nil end

local policy_obj   -- defined with the Policy methods below

-- the scope's policies as Policy objects (policy:id(), policy:evaluate(...))
function SCOPE:policies()
  local out = {}
  for i, id in ipairs(self._ids) do out[i] = policy_obj(id) end
  return out
end
function SCOPE:contains(id)
  id = type(id) == "table" and id._id or id
  for _, x in ipairs(self._ids) do if x == id then return true end end
  return false
end
function SCOPE:with(p)
  local id = type(p) == "table" and p._id or p
  if self:contains(id) then return self end
  local ids = {}
  for i, x in ipairs(self._ids) do ids[i] = x end
  ids[#ids + 1] = id
  return new_scope(ids)
end
function SCOPE:without(p)
  local id = type(p) == "table" and p._id or p
  local ids = {}
  for _, x in ipairs(self._ids) do if x ~= id then ids[#ids + 1] = x end end
  return new_scope(ids)
end
function SCOPE:evaluate(actor, action, resource, meta)
  local result = "undefined"
  for _, id in ipairs(self._ids) do
    local r = py.evaluate(id, actor_table(actor), action, resource, meta)
    if r == "deny" then return "deny" end
    if r == "allow" then result = "allow" end
  end
  return result
end

local POLICY = {__name = "policy"}
POLICY.__index = POLICY
function POLICY:id() return self._id end
policy_obj = function(id) return setmetatable({_id = id}, POLICY) end
function POLICY:evaluate(actor, action, resource, meta)
  return py.evaluate(self._id, actor_table(actor), action, resource, meta)
end

-- The permission check every guarded operation makes (S.check is used by funcs, process, registry).
function S.check(action, resource, meta)
  local task = S.current()
  local actor, scope = task and task.actor, task and task.scope
  if actor == nil or scope == nil then return not S.strict end
  return py.can(actor_table(actor), scope_ids(scope), action, resource, meta)
end

local security = {}
-- Copies: the task's own actor and scope decide its permissions, and code must not be able to
-- add a policy to them (or change them under its parent, which shares them) by writing a field.
function security.actor()
  local task = S.current()
  return task and task.actor and copy(task.actor) or nil
end
function security.scope()
  local task = S.current()
  return task and task.scope and copy(task.scope) or nil
end
function security.can(action, resource, meta) return S.check(action, resource, meta) end
security.new_actor = new_actor
security.new_scope = new_scope
function security.policy(id)
  if not py.exists(id) then return nil, new_error("NotFound", "policy " .. tostring(id) .. " not found") end
  return setmetatable({_id = id}, POLICY)
end
function security.named_scope(group)
  local ids, err = py.group(group)
  if not ids then return nil, err end
  return new_scope(ids)
end
-- token stores (security.token_store entries): tokens standing for an actor and a scope
local TOKENS = {__name = "token_store"}
TOKENS.__index = TOKENS
function TOKENS:create(actor, scope, opts)
  if type(actor) ~= "table" or actor._id == nil then return nil, new_error("Invalid", "create: actor expected") end
  return py.token_create(self._id, actor_table(actor), scope and scope_ids(scope) or {}, opts)
end
function TOKENS:validate(token)
  local rec, err = py.token_validate(self._id, token)
  if not rec then return nil, nil, err end
  return new_actor(rec.actor.id, rec.actor.meta), new_scope(rec.scope)
end
function TOKENS:revoke(token) return py.token_revoke(self._id, token) end
function TOKENS:close() return true end
function security.token_store(id)
  local ok, err = py.token_store(id)
  if not ok then return nil, err end
  return setmetatable({_id = id}, TOKENS)
end
-- process.service security blocks arrive as plain tables
function S.make_actor(t) return t and new_actor(t.id, t.meta) or nil end
function S.make_scope(ids) return ids and new_scope(ids) or nil end
return security
