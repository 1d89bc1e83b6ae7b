-- The `sql` module: databases declared as db.sql.* entries.
-- sql.get(id) -> DB; DB:query/execute/prepare/begin/type/stats/release; Tx adds
-- commit/rollback/savepoint/rollback_to/release; sql.as.* typed params; sql.builder.
local S, P, py = ...
local type, setmetatable, getmetatable, tostring, select = type, setmetatable, getmetatable, tostring, select
local new_error = S.new_error

local sql = {}
sql.type = {SQLITE = "sqlite", POSTGRES = "postgres", MYSQL = "mysql", UNKNOWN = "unknown"}

local full_id = S.full_id

-- typed params
local TYPED = {__name = "sql.typed"}
TYPED.__index = TYPED
local function typed(t) return function(v) return setmetatable({__sql_type = t, value = v}, TYPED) end end
sql.as = {int = typed("int"), float = typed("float"), text = typed("text"), binary = typed("binary"),
          bool = typed("bool"), null = function() return setmetatable({__sql_type = "null"}, TYPED) end}

local function check_params(params)
  if params ~= nil and type(params) ~= "table" then
    return new_error("Invalid", "sql: params must be a table")
  end
end

-- statements (prepared on the Lua side; the driver caches plans)
local STMT = {__name = "sql.Statement"}
STMT.__index = STMT
function STMT:query(params)
  if self._closed then return nil, new_error("Invalid", "statement is closed") end
  return self._owner:query(self._sql, params)
end
function STMT:execute(params)
  if self._closed then return nil, new_error("Invalid", "statement is closed") end
  return self._owner:execute(self._sql, params)
end
function STMT:close() self._closed = true; return true end
local function prepare(owner, q)
  if type(q) ~= "string" or q == "" then return nil, new_error("Invalid", "sql: query must be a non-empty string") end
  return setmetatable({_owner = owner, _sql = q}, STMT)
end

-- transactions
local TX = {__name = "sql.Tx"}
TX.__index = TX
function TX:query(q, params)
  local e = check_params(params); if e then return nil, e end
  return py.tx_query(self._h, q, params)
end
function TX:execute(q, params)
  local e = check_params(params); if e then return nil, e end
  return py.tx_execute(self._h, q, params)
end
TX.prepare = prepare
function TX:db_type() return self._type end
function TX:commit() return py.tx_commit(self._h) end
function TX:rollback() return py.tx_rollback(self._h) end
function TX:savepoint(name) return py.tx_savepoint(self._h, name) end
function TX:rollback_to(name) return py.tx_rollback_to(self._h, name) end
function TX:release(name) return py.tx_release(self._h, name) end

-- databases
local DB = {__name = "sql.DB"}
DB.__index = DB
local function live(self)
  if self._released then return new_error("Invalid", "database handle " .. self._id .. " was released") end
end
function DB:type() return self._type end
function DB:query(q, params)
  local e = live(self) or check_params(params); if e then return nil, e end
  return py.query(self._id, q, params)
end
function DB:execute(q, params)
  local e = live(self) or check_params(params); if e then return nil, e end
  return py.execute(self._id, q, params)
end
function DB:prepare(q)
  local e = live(self); if e then return nil, e end
  return prepare(self, q)
end
function DB:begin(opts)
  local e = live(self); if e then return nil, e end
  local h, err = py.begin(self._id)
  if h == nil then return nil, err end
  return setmetatable({_h = h, _type = self._type}, TX)
end
function DB:stats()
  local e = live(self); if e then return nil, e end
  return py.stats(self._id)
end
function DB:release() self._released = true; return true end
function DB:id() return self._id end

function sql.get(id)
  local fid = full_id(id)
  if not fid then return nil, new_error("Invalid", "sql.get: database id must be a non-empty string") end
  local t, err = py.get(fid)
  if t == nil then return nil, err end
  return setmetatable({_id = fid, _type = t}, DB)
end

---------------------------------------------------------------------------
-- sql.builder: a small squirrel-like query builder
---------------------------------------------------------------------------
local B = {}
local EXPR = {__name = "sql.Expr"}
EXPR.__index = EXPR
local function expr(text, args) return setmetatable({_sql = text, _args = args or {}}, EXPR) end
local function is_expr(v) return getmetatable(v) == EXPR end

local function append(dst, src) for i = 1, #src do dst[#dst + 1] = src[i] end end

-- a condition: an Expr, a string with args, or a map {col = value} (ANDed, sorted keys)
local function cond(c, args)
  if is_expr(c) then return c end
  if type(c) == "string" then return expr(c, args or {}) end
  if type(c) == "table" then
    local keys = {}
    for k in pairs(c) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts, a = {}, {}
    for _, k in ipairs(keys) do
      local v = c[k]
      if type(v) == "table" and getmetatable(v) == nil then
        local qs = {}
        for i = 1, #v do qs[i] = "?"; a[#a + 1] = v[i] end
        parts[#parts + 1] = k .. " IN (" .. table.concat(qs, ",") .. ")"
      else
        parts[#parts + 1] = k .. " = ?"; a[#a + 1] = v
      end
    end
    return expr(table.concat(parts, " AND "), a)
  end
  error("sql.builder: bad condition", 3)
end

local function op(symbol)
  return function(map)
    local keys = {}
    for k in pairs(map) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts, a = {}, {}
    for _, k in ipairs(keys) do
      local v = map[k]
      if v == nil and symbol == "=" then parts[#parts + 1] = k .. " IS NULL"
      else parts[#parts + 1] = k .. " " .. symbol .. " ?"; a[#a + 1] = v end
    end
    return expr(table.concat(parts, " AND "), a)
  end
end
B.expr = function(text, ...) return expr(text, {...}) end
B.eq, B.not_eq, B.lt, B.lte, B.gt, B.gte, B.like, B.not_like =
  op("="), op("<>"), op("<"), op("<="), op(">"), op(">="), op("LIKE"), op("NOT LIKE")
local function join(word)
  return function(list)
    local parts, a = {}, {}
    for i = 1, #list do
      local c = cond(list[i])
      parts[#parts + 1] = "(" .. c._sql .. ")"
      append(a, c._args)
    end
    return expr(table.concat(parts, " " .. word .. " "), a)
  end
end
B.and_, B.or_ = join("AND"), join("OR")

local Q = {__name = "sql.Query"}
Q.__index = Q
local function q(kind, fields) fields._kind = kind; return setmetatable(fields, Q) end
local function set_list(self, key, ...)
  local n = S.copy(self)
  setmetatable(n, Q)
  n[key] = n[key] or {}
  for i = 1, select("#", ...) do n[key][#n[key] + 1] = select(i, ...) end
  return n
end
local function with(self, k, v) local n = setmetatable(S.copy(self), Q); n[k] = v; return n end

function B.select(...) return q("select", {_cols = {...}}) end
function B.insert(tbl) return q("insert", {_table = tbl}) end
function B.update(tbl) return q("update", {_table = tbl, _sets = {}}) end
function B.delete(tbl) return q("delete", {_table = tbl}) end

function Q:from(t) return with(self, "_table", t) end
function Q:columns(...) return set_list(self, "_cols", ...) end
function Q:values(...) local n = setmetatable(S.copy(self), Q); n._rows = n._rows or {}; n._rows[#n._rows + 1] = {...}; return n end
function Q:where(c, ...)
  local n = setmetatable(S.copy(self), Q)
  n._where = n._where or {}
  n._where[#n._where + 1] = cond(c, {...})
  return n
end
function Q:set(col, v)
  local n = setmetatable(S.copy(self), Q)
  n._sets = n._sets or {}
  n._sets[#n._sets + 1] = {col, v}
  return n
end
function Q:set_map(map)
  local keys = {}
  for k in pairs(map) do keys[#keys + 1] = k end
  table.sort(keys)
  local n = self
  for _, k in ipairs(keys) do n = n:set(k, map[k]) end
  return n
end
function Q:order_by(...) return set_list(self, "_order", ...) end
function Q:group_by(...) return set_list(self, "_group", ...) end
function Q:limit(n) return with(self, "_limit", n) end
function Q:offset(n) return with(self, "_offset", n) end
function Q:suffix(s) return with(self, "_suffix", s) end
function Q:placeholder_format(f) return with(self, "_ph", f) end

local function where_sql(self, args)
  if not self._where or #self._where == 0 then return "" end
  local parts = {}
  for i, c in ipairs(self._where) do parts[i] = c._sql; append(args, c._args) end
  if #parts == 1 then return " WHERE " .. parts[1] end
  for i = 1, #parts do parts[i] = "(" .. parts[i] .. ")" end
  return " WHERE " .. table.concat(parts, " AND ")
end

function Q:to_sql()
  local args, s = {}, nil
  if not self._table or self._table == "" then return nil, nil, new_error("Invalid", "sql.builder: no table") end
  if self._kind == "select" then
    local cols = (#self._cols > 0) and table.concat(self._cols, ", ") or "*"
    s = "SELECT " .. cols .. " FROM " .. self._table .. where_sql(self, args)
    if self._group then s = s .. " GROUP BY " .. table.concat(self._group, ", ") end
    if self._order then s = s .. " ORDER BY " .. table.concat(self._order, ", ") end
    if self._limit then s = s .. " LIMIT " .. math.tointeger(self._limit) end
    if self._offset then s = s .. " OFFSET " .. math.tointeger(self._offset) end
  elseif self._kind == "insert" then
    local rows = {}
    for _, row in ipairs(self._rows or {}) do
      local qs = {}
      for i = 1, #row do
        if is_expr(row[i]) then qs[i] = row[i]._sql; append(args, row[i]._args)
        else qs[i] = "?"; args[#args + 1] = row[i] end
      end
      rows[#rows + 1] = "(" .. table.concat(qs, ", ") .. ")"
    end
    if #rows == 0 then return nil, nil, new_error("Invalid", "sql.builder: insert without values") end
    s = "INSERT INTO " .. self._table .. (self._cols and #self._cols > 0 and (" (" .. table.concat(self._cols, ", ") .. ")") or "")
      .. " VALUES " .. table.concat(rows, ", ")
  elseif self._kind == "update" then
    local sets = {}
    for i, p in ipairs(self._sets or {}) do
      if is_expr(p[2]) then sets[i] = p[1] .. " = " .. p[2]._sql; append(args, p[2]._args)
      else sets[i] = p[1] .. " = ?"; args[#args + 1] = p[2] end
    end
    if #sets == 0 then return nil, nil, new_error("Invalid", "sql.builder: update without set") end
    s = "UPDATE " .. self._table .. " SET " .. table.concat(sets, ", ") .. where_sql(self, args)
  else
    s = "DELETE FROM " .. self._table .. where_sql(self, args)
  end
  if self._suffix then s = s .. " " .. self._suffix end
  if self._ph == "dollar" then
    local n = 0
    s = s:gsub("%?", function() n = n + 1; return "$" .. n end)
  end
  return s, args
end

local RUNNER = {__name = "sql.Runner"}
RUNNER.__index = RUNNER
function Q:run_with(db) return setmetatable({_q = self, _db = db}, RUNNER) end
function RUNNER:query()
  local s, args, err = self._q:to_sql()
  if not s then return nil, err end
  return self._db:query(s, args)
end
function RUNNER:exec()
  local s, args, err = self._q:to_sql()
  if not s then return nil, err end
  return self._db:execute(s, args)
end
RUNNER.execute = RUNNER.exec
B.question, B.dollar = "question", "dollar"
sql.builder = B

return sql
