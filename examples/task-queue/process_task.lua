local schema = require("schema")
local store = require("store")
local events = require("events")
local queue = require("queue")
local time = require("time")

type Job = {id: integer, title: string @min_len(1)}

-- the consumer's handler: gets the message body; an error puts the message back
local function handle(body: any): (boolean?, error?)
  local task = Job(body)   -- a malformed message fails here, naming the field
  local db, err = schema.db()
  if not db then return nil, err end
  local msg = queue.message()
  db:execute("UPDATE tasks SET status = 'running', attempts = ? WHERE id = ?", {msg:attempts(), task.id})
  time.sleep("20ms")  -- the work
  local result = string.upper(task.title)
  db:execute("UPDATE tasks SET status = 'done', result = ? WHERE id = ?", {result, task.id})
  store.get("tasks:cache"):delete("list")
  events.send("tasks", "task.done", tostring(task.id), {id = task.id, result = result})
  return true
end

return {handle = handle}
