local schema = require("schema")
local store = require("store")

local CACHE_SECONDS: integer = 5

-- list() -> array of tasks; cached for 5 seconds, dropped when a task changes
local function list(): (any, error?)
  local cache = store.get("tasks:cache")
  local cached = cache:get("list")
  if cached then return cached end
  local db, err = schema.db()
  if not db then return nil, err end
  local rows, qerr = db:query("SELECT id, title, status, result, attempts FROM tasks ORDER BY id")
  if not rows then return nil, qerr end
  cache:set("list", rows, CACHE_SECONDS)
  return rows
end

return {list = list}
