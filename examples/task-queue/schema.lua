local sql = require("sql")
local schema = {}

function schema.db(): (any, error?)
  local db, err = sql.get("tasks:db")
  if not db then return nil, err end
  local _, e = db:execute([[CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    result TEXT,
    attempts INTEGER NOT NULL DEFAULT 0
  )]])
  if e then return nil, e end
  return db
end

return schema
