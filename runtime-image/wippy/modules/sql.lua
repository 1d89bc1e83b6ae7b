-- The `sql` module: databases declared as db.sql.* entries.
-- sql.get(id) -> DB; DB:query/execute/prepare/begin/type/stats/release; Tx adds
-- commit/rollback/savepoint/rollback_to/release; sql.as.* typed params; sql.builder.
local S, P, py = ...
local type, setmetatable, getmetatable, tostring, select = type, setmetatable, getmetatable, tostring, select
local new_error = S.new_error

local sql = {}
sql.type = {SQLITE = "sqlite", POSTGRES = "postgres", MYSQL = "mysql", UNKNOWN = "unknown"}
sql.isolation = {DEFAULT = "default", READ_UNCOMMITTED = "read_uncommitted", READ_COMMITTED = "read_committed",
                 WRITE_COMMITTED = "write_committed", REPEATABLE_READ = "repeatable_read", SERIALIZABLE = "serializable"}

local full_id = S.full_id

-- typed params
local TYPED = {__name = "sql.typed"}
TYPED.__index = TYPED
local function typed(t) return function(v) return setmetatable({__sql_type = t, value = v}, TYPED) end end
sql.as = {int = typed("int"), float = typed("float"), text = typed("text"), binary = typed("binary"),
          bool = typed("bool"), null = function() return setmetatable({__sql_type = "null"}, TYPED) end}

-- sql.NULL: one shared, read-only marker; it crosses to the drivers as a fresh sql.as.null()
local NULL = setmetatable({}, {__name = "sql.NULL", __metatable = false,
  __newindex = function() error("sql.NULL is read-only", 2) end,
  __tostring = function() return "sql.NULL" end})
sql.NULL = NULL

local function check_params(params)
  if params ~= nil and type(params) ~= "table" then
    return new_error("Invalid", "sql: params must be a table")
  end
end

-- params as the drivers take them: sql.NULL markers replaced (in a copy)
local function plain(params)
  if params == nil then return nil end
  local out
  for k, v in pairs(params) do
    if v == NULL then
      if not out then out = {}; for k2, v2 in pairs(params) do out[k2] = v2 end end
      out[k] = sql.as.null()
    end
  end
  return out or params
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
-- A transaction never outlives the Lua process that began it: one left open when the process
-- ends (returns, fails, is cancelled) is rolled back and its connection goes back to the pool.
local own_tx, disown_tx = S.process_resources(py.tx_abandon)

local TX = {__name = "sql.Tx"}
TX.__index = TX
function TX:query(q, params)
  local e = check_params(params); if e then return nil, e end
  return py.tx_query(self._h, q, plain(params))
end
function TX:execute(q, params)
  local e = check_params(params); if e then return nil, e end
  return py.tx_execute(self._h, q, plain(params))
end
TX.prepare = prepare
function TX:db_type() return self._type end
function TX:commit() disown_tx(self._h); return py.tx_commit(self._h) end
function TX:rollback() disown_tx(self._h); return py.tx_rollback(self._h) end
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
  return py.query(self._id, q, plain(params))
end
function DB:execute(q, params)
  local e = live(self) or check_params(params); if e then return nil, e end
  return py.execute(self._id, q, plain(params))
end
function DB:prepare(q)
  local e = live(self); if e then return nil, e end
  return prepare(self, q)
end
local ISOLATION = {}
for _, v in pairs(sql.isolation) do ISOLATION[v] = true end
function DB:begin(opts)
  local e = live(self); if e then return nil, e end
  if opts ~= nil and type(opts) ~= "table" then return nil, new_error("Invalid", "begin: options must be a table") end
  opts = opts or {}
  if opts.isolation ~= nil and not ISOLATION[opts.isolation] then
    return nil, new_error("Invalid", "begin: isolation must be one of sql.isolation.*")
  end
  if opts.read_only ~= nil and type(opts.read_only) ~= "boolean" then
    return nil, new_error("Invalid", "begin: read_only must be a boolean")
  end
  local h, err = py.begin(self._id, opts.isolation, opts.read_only == true)
  if h == nil then return nil, err end
  own_tx(h)
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

-- an UPDATE's `from` is its FROM clause; for the others it names the table
function Q:from(t)
  if self._kind == "update" then return with(self, "_from", expr(t)) end
  return with(self, "_table", t)
end
function Q:into(t) return with(self, "_table", t) end
function Q:table(t) return with(self, "_table", t) end
function Q:from_select(sub, alias)
  local s, a, err = sub:to_sql()
  if not s then error(err:message(), 2) end
  return with(self, "_from", expr("(" .. s .. ") AS " .. alias, a))
end
function Q:columns(...) return set_list(self, "_cols", ...) end
function Q:values(...) local n = setmetatable(S.copy(self), Q); n._rows = n._rows or {}; n._rows[#n._rows + 1] = {...}; return n end
function Q:select(sub) return with(self, "_select", sub) end
function Q:where(c, ...)
  local n = setmetatable(S.copy(self), Q)
  n._where = n._where or {}
  n._where[#n._where + 1] = cond(c, {...})
  return n
end
function Q:having(c, ...)
  local n = setmetatable(S.copy(self), Q)
  n._having = n._having or {}
  n._having[#n._having + 1] = cond(c, {...})
  return n
end
local function add_join(word)
  return function(self, clause, ...)
    local n = setmetatable(S.copy(self), Q)
    n._joins = n._joins or {}
    n._joins[#n._joins + 1] = expr(word .. " " .. clause, {...})
    return n
  end
end
Q.join, Q.left_join, Q.right_join, Q.inner_join =
  add_join("JOIN"), add_join("LEFT JOIN"), add_join("RIGHT JOIN"), add_join("INNER JOIN")
function Q:distinct() return with(self, "_distinct", true) end
function Q:options(...) return set_list(self, "_options", ...) end
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
function Q:prefix(text, ...) return with(self, "_prefix", expr(text, {...})) end
function Q:suffix(text, ...) return with(self, "_suffix", expr(text, {...})) end
function Q:placeholder_format(f)
  if f ~= "question" and f ~= "dollar" and f ~= "at" and f ~= "colon" then
    error("sql.builder: placeholder format must be one of sql.builder.question/dollar/at/colon", 2)
  end
  return with(self, "_ph", f)
end

local function conds_sql(word, list, args)
  if not list or #list == 0 then return "" end
  local parts = {}
  for i, c in ipairs(list) do parts[i] = c._sql; append(args, c._args) end
  if #parts == 1 then return " " .. word .. " " .. parts[1] end
  for i = 1, #parts do parts[i] = "(" .. parts[i] .. ")" end
  return " " .. word .. " " .. table.concat(parts, " AND ")
end
local function where_sql(self, args) return conds_sql("WHERE", self._where, args) end
local function tail_sql(self)   -- ORDER BY / LIMIT / OFFSET
  local s = ""
  if self._order then s = s .. " ORDER BY " .. table.concat(self._order, ", ") end
  if self._limit then s = s .. " LIMIT " .. math.tointeger(self._limit) end
  if self._offset then s = s .. " OFFSET " .. math.tointeger(self._offset) end
  return s
end
local function value_sql(v, args)
  if is_expr(v) then append(args, v._args); return v._sql end
  args[#args + 1] = v
  return "?"
end
local PLACEHOLDER = {dollar = "$", at = "@p", colon = ":"}

function Q:to_sql()
  local args, s = {}, nil
  if self._prefix then s = self._prefix._sql .. " "; append(args, self._prefix._args) else s = "" end
  if not self._table or self._table == "" then
    return nil, nil, new_error("Invalid", "sql.builder: no table")
  end
  if self._kind == "select" then
    local cols = (#self._cols > 0) and table.concat(self._cols, ", ") or "*"
    s = s .. "SELECT " .. (self._distinct and "DISTINCT " or "") .. cols .. " FROM " .. self._table
    for _, j in ipairs(self._joins or {}) do s = s .. " " .. j._sql; append(args, j._args) end
    s = s .. where_sql(self, args)
    if self._group then s = s .. " GROUP BY " .. table.concat(self._group, ", ") end
    s = s .. conds_sql("HAVING", self._having, args) .. tail_sql(self)
  elseif self._kind == "insert" then
    local head = "INSERT " .. (self._options and (table.concat(self._options, " ") .. " ") or "") .. "INTO " .. self._table
      .. (self._cols and #self._cols > 0 and (" (" .. table.concat(self._cols, ", ") .. ")") or "")
    if self._select then
      local sub, sargs, err = self._select:to_sql()
      if not sub then return nil, nil, err end
      s = s .. head .. " " .. sub
      append(args, sargs)
    else
      local rows = {}
      for _, row in ipairs(self._rows or {}) do
        local qs = {}
        for i = 1, #row do qs[i] = value_sql(row[i], args) end
        rows[#rows + 1] = "(" .. table.concat(qs, ", ") .. ")"
      end
      if #rows == 0 then return nil, nil, new_error("Invalid", "sql.builder: insert without values") end
      s = s .. head .. " VALUES " .. table.concat(rows, ", ")
    end
  elseif self._kind == "update" then
    local sets = {}
    for i, p in ipairs(self._sets or {}) do sets[i] = p[1] .. " = " .. value_sql(p[2], args) end
    if #sets == 0 then return nil, nil, new_error("Invalid", "sql.builder: update without set") end
    s = s .. "UPDATE " .. self._table .. " SET " .. table.concat(sets, ", ")
    if self._from then s = s .. " FROM " .. self._from._sql; append(args, self._from._args) end
    s = s .. where_sql(self, args) .. tail_sql(self)
  else
    s = s .. "DELETE FROM " .. self._table .. where_sql(self, args) .. tail_sql(self)
  end
  if self._suffix then s = s .. " " .. self._suffix._sql; append(args, self._suffix._args) end
  local mark = PLACEHOLDER[self._ph]
  if mark then
    local n = 0
    s = s:gsub("%?", function() n = n + 1; return mark .. n end)
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
function RUNNER:to_sql() return self._q:to_sql() end
B.question, B.dollar, B.at, B.colon = "question", "dollar", "at", "colon"
B.default_placeholder = B.question
sql.builder = B

return sql
