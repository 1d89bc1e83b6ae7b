local io = require("io")
local funcs = require("funcs")
local events = require("events")
local time = require("time")

type Task = {id: integer, title: string, status: string, result: string?, attempts: integer}

-- wippy run examples/task-queue demo [count]
local function main(count: string?): integer
  local n: integer = math.tointeger(tonumber(count)) or 3
  local sub = events.subscribe("tasks", "task.done")
  local ids: {integer} = {}
  for i = 1, n do
    local t, err = funcs.call("tasks:submit", "task " .. i)
    if not t then io.eprint("submit failed: " .. tostring(err)); return 1 end
    ids[#ids + 1] = t.id
  end
  local timeout = time.after("10s")
  local done: integer = 0
  while done < n do
    local r = channel.select({sub:channel():case_receive(), timeout:case_receive()})
    if r.channel == timeout then io.eprint("timed out waiting for tasks"); return 1 end
    done = done + 1
  end
  sub:close()
  local tasks: {Task} = funcs.call("tasks:list")
  local mine: {[integer]: boolean} = {}
  for _, id in ipairs(ids) do mine[id] = true end
  for _, t in ipairs(tasks) do
    if mine[t.id] then io.print(string.format("#%d %s: %s -> %s", t.id, t.title, t.status, t.result or "")) end
  end
  return 0
end

return {main = main}
