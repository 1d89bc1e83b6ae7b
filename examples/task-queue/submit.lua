local schema = require("schema")
local queue = require("queue")
local store = require("store")

type Submitted = {id: integer, status: "queued"}

-- submit(title) -> {id, status}
local function submit(title: unknown): (Submitted?, error?)
  if type(title) ~= "string" or title == "" then
    return nil, errors.new({kind = errors.INVALID, message = "title must be a non-empty string"})
  end
  local db, err = schema.db()
  if not db then return nil, err end
  local r, ierr = db:execute("INSERT INTO tasks (title) VALUES (?)", {title})
  if not r then return nil, ierr end
  local ok, perr = queue.publish("tasks:jobs", {id = r.last_insert_id, title = title}, {source = "submit"})
  if not ok then return nil, perr end
  store.get("tasks:cache"):delete("list")
  return {id = r.last_insert_id, status = "queued"}
end

return {submit = submit}
