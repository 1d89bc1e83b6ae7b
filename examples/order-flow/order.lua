local io = require("io")

type Order = {id: string, items: {string}, total: number}

local function main(answer: string?): (integer?, error?)
  local approved = answer ~= "no"
  local order: Order = {id = "order-1", items = {"book", "pen"}, total = 30}
  local pid, err = process.spawn_monitored("app:order_flow", "app:worker", order)
  if err then return nil, err end
  io.print("started workflow " .. pid)
  process.spawn("app:approver", "app:procs", pid, approved)
  local ev = process.events():receive()
  if ev.result.error then
    io.print("order failed: " .. tostring(ev.result.error))
    return 1
  end
  io.print("order " .. ev.result.value.order .. ": " .. ev.result.value.status)
  return 0
end

return {main = main}
