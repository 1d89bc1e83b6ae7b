-- Types as values at run time. A declared type is a read-only table whose metatable is the
-- runtime's (code cannot reach or change it): T(v) validates and returns v or raises an
-- Invalid error naming the field and the rule; T:is(v) returns v, nil or nil, err; the
-- reflection methods read the descriptor kept in a private weak table. Emitted code reaches
-- this module as the global `__wt` (lang/emit.py).
local S, P = ...
local setmetatable, type, pairs, ipairs, tostring, error, select, rawequal = setmetatable, type, pairs, ipairs, tostring, error, select, rawequal
local mtype, floor, sfind, sformat, concat = math.type, math.floor, string.find, string.format, table.concat
local new_error = S.new_error

local DESC = setmetatable({}, {__mode = "k"})   -- type value -> descriptor
local TMT = {__metatable = false}
local methods = {}
local W = {}

local function make(d)
  local t = setmetatable({}, TMT)
  DESC[t] = d
  S.protected[t] = true
  return t
end

local function is_type(v) return DESC[v] ~= nil end
W.is_type = is_type

-- a forward or recursive reference resolves on first use
local function resolve(t)
  local d = DESC[t]
  while d.kind == "ref" do
    local target = d.target
    if target == nil then
      target = d.fn()
      if not is_type(target) then error("unknown type '" .. d.ref_name .. "'", 0) end
      d.target = target
    end
    t = target
    d = DESC[t]
  end
  if d.kind == "generic" then
    t = d.default()
    d = DESC[t]
  end
  return t, d
end

---------------------------------------------------------------------------
-- rendering
---------------------------------------------------------------------------
local render
local function render_list(list, sep)
  local parts = {}
  for i, m in ipairs(list) do parts[i] = render(m) end
  return concat(parts, sep)
end

function render(t)
  local d = DESC[t]
  if d.name then return d.name end
  local k = d.kind
  if k == "ref" then return d.ref_name end
  if k == "literal" then
    if type(d.value) == "string" then return sformat("%q", d.value) end
    return tostring(d.value)
  end
  if k == "optional" then return render(d.inner) .. "?" end
  if k == "union" then return render_list(d.members, " | ") end
  if k == "intersection" then return render_list(d.members, " & ") end
  if k == "array" then return "{" .. render(d.elem) .. "}" end
  if k == "map" then return "{[" .. render(d.key) .. "]: " .. render(d.val) .. "}" end
  if k == "record" then
    local parts = {}
    for i, f in ipairs(d.fields) do parts[i] = f.name .. (f.optional and "?: " or ": ") .. render(f.type) end
    return "{" .. concat(parts, ", ") .. "}"
  end
  if k == "function" and d.params then
    return "(" .. render_list(d.params, ", ") .. ") -> " .. (#d.rets == 1 and render(d.rets[1]) or "(" .. render_list(d.rets, ", ") .. ")")
  end
  if k == "validated" then
    local parts = {render(d.base)}
    for _, v in ipairs(d.validators) do
      local args = {}
      for i = 2, #v do args[i - 1] = type(v[i]) == "string" and sformat("%q", v[i]) or tostring(v[i]) end
      parts[#parts + 1] = "@" .. v[1] .. "(" .. concat(args, ", ") .. ")"
    end
    return concat(parts, " ")
  end
  return k
end
W.render = render

---------------------------------------------------------------------------
-- validation: nil when v conforms, else a message naming the path and the rule
---------------------------------------------------------------------------
local function describe(v)
  local tv = type(v)
  if tv == "string" then
    if #v > 40 then v = v:sub(1, 37) .. "..." end
    return sformat("%q", v)
  end
  if tv == "number" or tv == "boolean" or tv == "nil" then return tostring(v) end
  return tv
end

local function at(path) return path ~= "" and path .. ": " or "" end
local function expected(t, v, path) return at(path) .. "expected " .. render(t) .. ", got " .. describe(v) end

local PRIM = {
  number = function(v) return type(v) == "number" end,
  integer = function(v) return mtype(v) == "integer" or (mtype(v) == "float" and v == floor(v) and v == v and v ~= 1/0 and v ~= -1/0) end,
  string = function(v) return type(v) == "string" end,
  boolean = function(v) return type(v) == "boolean" end,
  table = function(v) return type(v) == "table" end,
  ["function"] = function(v) return type(v) == "function" end,
  thread = function(v) return type(v) == "thread" end,
  userdata = function(v) return type(v) == "userdata" end,
  ["nil"] = function(v) return v == nil end,
  any = function() return true end,
  unknown = function() return true end,
  never = function() return false end,
  error = function(v) return v ~= nil end,
}

local RULES = {
  min = function(v, n) return type(v) == "number" and v >= n end,
  max = function(v, n) return type(v) == "number" and v <= n end,
  min_len = function(v, n)
    if type(v) == "string" or type(v) == "table" then return #v >= n end
    return false
  end,
  max_len = function(v, n)
    if type(v) == "string" or type(v) == "table" then return #v <= n end
    return false
  end,
  pattern = function(v, p) return type(v) == "string" and sfind(v, p) ~= nil end,
}
W.RULES = RULES

local validate
function validate(t, v, path, depth)
  if depth > 100 then return at(path) .. "value nested too deeply" end
  local d
  t, d = resolve(t)
  local k = d.kind
  local prim = PRIM[k]
  if prim and not d.params then
    if prim(v) then return nil end
    return expected(t, v, path)
  end
  if k == "function" then
    if type(v) == "function" then return nil end
    return expected(t, v, path)
  end
  if k == "literal" then
    if v == d.value then return nil end
    return expected(t, v, path)
  end
  if k == "optional" then
    if v == nil then return nil end
    return validate(d.inner, v, path, depth + 1)
  end
  if k == "union" then
    local first
    for _, m in ipairs(d.members) do
      local err = validate(m, v, path, depth + 1)
      if err == nil then return nil end
      first = first or err
    end
    -- a tagged union names the member that matched its tag
    if type(v) == "table" and d.tag then
      local variant = d.tag_map[v[d.tag]]
      if variant then return validate(variant, v, path, depth + 1) end
    end
    return expected(t, v, path)
  end
  if k == "intersection" then
    for _, m in ipairs(d.members) do
      local err = validate(m, v, path, depth + 1)
      if err then return err end
    end
    return nil
  end
  if k == "array" then
    if type(v) ~= "table" then return expected(t, v, path) end
    for i = 1, #v do
      local err = validate(d.elem, v[i], path .. "[" .. i .. "]", depth + 1)
      if err then return err end
    end
    return nil
  end
  if k == "map" then
    if type(v) ~= "table" then return expected(t, v, path) end
    for key, val in pairs(v) do
      local kp = path .. "[" .. describe(key) .. "]"
      local err = validate(d.key, key, kp, depth + 1) or validate(d.val, val, kp, depth + 1)
      if err then return err end
    end
    return nil
  end
  if k == "record" then
    if type(v) ~= "table" then return expected(t, v, path) end
    for _, f in ipairs(d.fields) do
      local fv = v[f.name]
      if fv == nil and f.optional then goto continue end
      if fv == nil and not DESC[(resolve(f.type))].nilable then
        return (path ~= "" and path .. "." or "") .. f.name .. ": missing required field (" .. render(f.type) .. ")"
      end
      do
        local err = validate(f.type, fv, path ~= "" and path .. "." .. f.name or f.name, depth + 1)
        if err then return err end
      end
      ::continue::
    end
    return nil
  end
  if k == "validated" then
    local err = validate(d.base, v, path, depth + 1)
    if err then return err end
    for _, rule in ipairs(d.validators) do
      if not RULES[rule[1]](v, rule[2]) then
        local args = {}
        for i = 2, #rule do args[i - 1] = type(rule[i]) == "string" and sformat("%q", rule[i]) or tostring(rule[i]) end
        return at(path) .. describe(v) .. " violates @" .. rule[1] .. "(" .. concat(args, ", ") .. ")"
      end
    end
    return nil
  end
  return at(path) .. "cannot validate a " .. k .. " type"
end

local function check(t, v)
  local err = validate(t, v, "", 0)
  if err == nil then
    local _, d = resolve(t)
    if d.kind == "integer" and mtype(v) == "float" then v = floor(v) end
    return v, nil
  end
  local name = DESC[t].name
  return nil, new_error("Invalid", (name and ("invalid " .. name .. ": ") or "") .. err)
end
W.check = check

---------------------------------------------------------------------------
-- subtyping (for <=, <, ==)
---------------------------------------------------------------------------
local subtype
function subtype(a, b, depth)
  depth = depth or 0
  if depth > 50 then return true end
  local da, db
  a, da = resolve(a)
  b, db = resolve(b)
  if rawequal(a, b) then return true end
  local ka, kb = da.kind, db.kind
  if kb == "any" or kb == "unknown" or ka == "never" then return true end
  if ka == "any" then return false end
  if ka == "validated" then return subtype(da.base, b, depth + 1) end
  if kb == "validated" then return false end
  if ka == "union" then
    for _, m in ipairs(da.members) do if not subtype(m, b, depth + 1) then return false end end
    return true
  end
  if kb == "union" then
    for _, m in ipairs(db.members) do if subtype(a, m, depth + 1) then return true end end
    return false
  end
  if kb == "optional" then return ka == "nil" or subtype(ka == "optional" and da.inner or a, db.inner, depth + 1) end
  if ka == "optional" then return false end
  if ka == "integer" and kb == "number" then return true end
  if ka == "literal" then
    if kb == "literal" then return da.value == db.value end
    return PRIM[kb] ~= nil and PRIM[kb](da.value)
  end
  if ka ~= kb then
    return kb == "table" and (ka == "array" or ka == "map" or ka == "record")
  end
  if ka == "array" then return subtype(da.elem, db.elem, depth + 1) and subtype(db.elem, da.elem, depth + 1) end
  if ka == "map" then
    return subtype(da.key, db.key, depth + 1) and subtype(db.key, da.key, depth + 1)
       and subtype(da.val, db.val, depth + 1) and subtype(db.val, da.val, depth + 1)
  end
  if ka == "record" then
    for _, f in ipairs(db.fields) do
      local g = da.fieldmap[f.name]
      if not g then if not f.optional then return false end
      elseif (g.optional and not f.optional) or not subtype(g.type, f.type, depth + 1) then return false end
    end
    return true
  end
  if ka == "function" then
    if not da.params or not db.params then return true end
    if #da.params ~= #db.params then return false end
    for i, p in ipairs(db.params) do if not subtype(p, da.params[i], depth + 1) then return false end end
    for i, r in ipairs(db.rets) do if not da.rets[i] or not subtype(da.rets[i], r, depth + 1) then return false end end
    return true
  end
  return true
end

TMT.__index = function(t, key)
  local _, d = resolve(t)
  if d.kind == "record" then
    local f = d.fieldmap[key]
    if f then return f.type end
  end
  return methods[key]
end
TMT.__newindex = function() error("types are read-only", 2) end
TMT.__call = function(t, v, ...)
  -- `User:name()` where User has a field `name`: User.name is that field's type, so the
  -- method call arrives here as a call of the field type with the record as argument
  if DESC[v] then
    local _, d = resolve(v)
    for name, f in pairs(d.fieldmap or {}) do
      if rawequal(f.type, t) and methods[name] then return methods[name](v, ...) end
    end
  end
  local value, err = check(t, v)
  if err then error(err, 2) end
  return value
end
TMT.__eq = function(a, b) return subtype(a, b) and subtype(b, a) end
TMT.__le = function(a, b) return subtype(a, b) end
TMT.__lt = function(a, b) return subtype(a, b) and not subtype(b, a) end
TMT.__tostring = function(t) return render(t) end
TMT.__name = "type"

---------------------------------------------------------------------------
-- reflection
---------------------------------------------------------------------------
local function desc_of(t, what)
  if not is_type(t) then error("bad self to '" .. what .. "' (a type expected)", 3) end
  local _, d = resolve(t)
  return d
end

local function iter(list)
  local i = 0
  return function()
    i = i + 1
    return list[i]
  end
end

function methods.is(t, v)
  if not is_type(t) then error("bad self to 'is' (a type expected, use T:is(v))", 2) end
  return check(t, v)
end
function methods.kind(t)
  local d = desc_of(t, "kind")
  return d.kind
end
function methods.name(t)
  local d = DESC[t]
  if d and d.name then return d.name end
  local _, rd = resolve(t)
  return rd.name
end
function methods.fields(t)
  local d = desc_of(t, "fields")
  local list = d.fields or {}
  local i = 0
  return function()
    i = i + 1
    local f = list[i]
    if f then return f.name, f.type, f.optional end
  end
end
function methods.field(t, name)
  local d = desc_of(t, "field")
  local f = d.fieldmap and d.fieldmap[name]
  if f then return f.type, f.optional end
  return nil
end
function methods.elem(t) return desc_of(t, "elem").elem end
function methods.key(t) return desc_of(t, "key").key end
function methods.val(t) return desc_of(t, "val").val end
function methods.inner(t)
  local d = desc_of(t, "inner")
  return d.inner or d.base
end
function methods.value(t) return desc_of(t, "value").value end
function methods.variants(t)
  local d = desc_of(t, "variants")
  return iter(d.members or {})
end
function methods.members(t) return methods.variants(t) end
function methods.params(t)
  local d = desc_of(t, "params")
  return iter(d.params or {})
end
function methods.ret(t)
  local d = desc_of(t, "ret")
  return d.rets and d.rets[1] or W.Nil
end
function methods.rets(t)
  local d = desc_of(t, "rets")
  return iter(d.rets or {})
end
function methods.validators(t)
  local d = desc_of(t, "validators")
  local list = d.validators or {}
  local i = 0
  return function()
    i = i + 1
    local v = list[i]
    if v then return v[1], select(2, table.unpack(v)) end
  end
end
function methods.optional(t)
  local d = desc_of(t, "optional")
  return d.kind == "optional" or d.nilable == true
end

---------------------------------------------------------------------------
-- constructors (called by emitted code)
---------------------------------------------------------------------------
local function prim(kind, nilable)
  return make({kind = kind, name = kind, nilable = nilable})
end
W.Number, W.Integer, W.String, W.Boolean = prim("number"), prim("integer"), prim("string"), prim("boolean")
W.Any, W.Unknown, W.Nil, W.Never = prim("any", true), prim("unknown", true), prim("nil", true), prim("never")
W.Table, W.Function, W.Thread, W.Userdata, W.Error =
  prim("table"), prim("function"), prim("thread"), prim("userdata"), prim("error")

function W.literal(v) return make({kind = "literal", value = v, nilable = v == nil, fresh = true}) end
function W.optional(t) return make({kind = "optional", inner = t, nilable = true, fresh = true}) end
function W.array(t) return make({kind = "array", elem = t, fresh = true}) end
function W.map(k, v) return make({kind = "map", key = k, val = v, fresh = true}) end
function W.func(params, rets) return make({kind = "function", params = params, rets = rets, fresh = true}) end
function W.validated(t, validators)
  for _, v in ipairs(validators) do
    if not RULES[v[1]] then error("unknown validator @" .. tostring(v[1]), 2) end
  end
  return make({kind = "validated", base = t, validators = validators, fresh = true})
end
function W.record(spec)
  local fields, fieldmap = {}, {}
  for i = 1, #spec, 3 do
    local f = {name = spec[i], type = spec[i + 1], optional = spec[i + 2]}
    fields[#fields + 1] = f
    fieldmap[f.name] = f
  end
  return make({kind = "record", fields = fields, fieldmap = fieldmap, fresh = true})
end
function W.union(members)
  local d = {kind = "union", members = members, fresh = true}
  for _, m in ipairs(members) do
    local md = DESC[m]
    if md.nilable or md.kind == "nil" then d.nilable = true end
  end
  -- a union of records sharing a literal field is tagged by it (for error messages)
  local first = DESC[members[1]]
  if first.kind == "record" then
    for _, f in ipairs(first.fields) do
      local map, ok = {}, true
      for _, m in ipairs(members) do
        local md = DESC[m]
        local g = md.kind == "record" and md.fieldmap[f.name]
        local gd = g and DESC[g.type]
        if not gd or gd.kind ~= "literal" then ok = false break end
        map[gd.value] = m
      end
      if ok then d.tag, d.tag_map = f.name, map break end
    end
  end
  return make(d)
end
function W.intersection(members)
  -- records merge into one record, so fields() and T.field see them all
  local spec, all_records = {}, true
  for _, m in ipairs(members) do
    local _, md = resolve(m)
    if md.kind ~= "record" then all_records = false break end
    for _, f in ipairs(md.fields) do spec[#spec + 1] = f.name; spec[#spec + 1] = f.type; spec[#spec + 1] = f.optional end
  end
  if all_records then return W.record(spec) end
  return make({kind = "intersection", members = members, fresh = true})
end
function W.lazy(fn, name) return make({kind = "ref", fn = fn, ref_name = name}) end
function W.named(name, t)
  local d = DESC[t]
  if d.fresh then
    d.fresh, d.name = nil, name
    return t
  end
  local copy = {}
  for k, v in pairs(d) do copy[k] = v end
  copy.name = name
  if d.kind == "ref" or d.kind == "generic" then return make({kind = "ref", fn = function() return t end, ref_name = name, name = name}) end
  return make(copy)
end
function W.generic(name, params, body)
  local cache = {}
  local d = {kind = "generic", name = name, params = nil, body = body}
  d.default = function()
    local t = cache.default
    if t == nil then
      local args = {}
      for i = 1, #params do args[i] = W.Any end
      t = W.named(name, body(table.unpack(args)))
      cache.default = t
    end
    return t
  end
  d.apply = function(args)
    local parts = {}
    for i, a in ipairs(args) do parts[i] = render(a) end
    local key = concat(parts, ", ")
    local t = cache[key]
    if t == nil then
      t = W.named(name .. "<" .. key .. ">", body(table.unpack(args)))
      cache[key] = t
    end
    return t
  end
  return make(d)
end
function W.apply(g, args)
  local d = DESC[g]
  while d and d.kind == "ref" do
    g = d.target or d.fn()
    d = DESC[g]
  end
  if not d then error("unknown generic type", 2) end
  if d.kind ~= "generic" then return g end
  return d.apply(args)
end

-- Built-in functions carry the signatures of lang/signatures.py (the linter's table too):
-- names are found on first use, each signature is built once per engine.
local builtin_names, builtin_types
local function builtin_type(f)
  if builtin_names == nil then
    builtin_names, builtin_types = setmetatable({}, {__mode = "k"}), {}
    for gname, g in pairs(S.base) do
      if type(g) == "function" then builtin_names[g] = gname
      elseif type(g) == "table" and not DESC[g] then
        for k, v in pairs(g) do if type(v) == "function" then builtin_names[v] = gname .. "." .. k end end
      end
    end
    for mname, m in pairs(S.modules) do
      if type(m) == "table" then
        for k, v in pairs(m) do
          if type(v) == "function" and builtin_names[v] == nil then builtin_names[v] = mname .. "." .. k end
        end
      end
    end
  end
  local name = builtin_names[f]
  if name == nil then return nil end
  local t = builtin_types[name]
  if t == nil then
    local expr = P and P.signature(name)
    t = false
    if expr then
      local chunk = load("return " .. expr, "=signature", "t", {__wt = W, math = math})
      t = chunk and W.named(name, chunk()) or false
    end
    builtin_types[name] = t
  end
  return t or nil
end

-- the type a value has at run time; a declared local passes its declaration
function W.typeof(v, declared)
  if declared ~= nil then return declared end
  local tv = type(v)
  if tv == "function" then return builtin_type(v) or W.Function end
  if tv == "number" then return mtype(v) == "integer" and W.Integer or W.Number end
  if tv == "string" then return W.String end
  if tv == "boolean" then return W.Boolean end
  if tv == "nil" then return W.Nil end
  if tv == "thread" then return W.Thread end
  if tv == "userdata" then return W.Userdata end
  return W.Table
end

-- a library's exported types join the table it returns
function W.export(types, value, ...)
  if type(value) == "table" and not S.protected[value] then
    for k, t in pairs(types) do if value[k] == nil then value[k] = t end end
  end
  return value, ...
end

-- globals every entry sees
local base = S.base_raw
base.__wt = W
base.typeof = function(v) return W.typeof(v) end
base.Number, base.Integer, base.String, base.Boolean = W.Number, W.Integer, W.String, W.Boolean
base.Any, base.Unknown, base.Table, base.Function = W.Any, W.Unknown, W.Table, W.Function
base.number, base.integer, base.boolean = W.Number, W.Integer, W.Boolean

-- `string(v)` validates like String(v): the sealed string library gets a callable front
function S.lang_after_seal()
  local lib = S.base.string
  local proxy = setmetatable({}, {
    __index = lib,
    __newindex = function(_, k) error("attempt to modify read-only table 'string' (field " .. tostring(k) .. ")", 2) end,
    __pairs = function() return pairs(lib) end,
    __call = function(_, v) return W.String(v) end,
    __metatable = false,
  })
  S.protected[proxy] = true
  S.base.string = proxy
end

return W
