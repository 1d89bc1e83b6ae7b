local io = require("io")

local MAX_RESTARTS: integer = 3

local function main(): integer
  process.set_options({trap_links = true})
  local events = process.events()
  local restarts: integer = 0
  local worker: string = process.spawn_linked("sup:worker", "sup:procs", "demo")
  io.print("started worker")
  while restarts < MAX_RESTARTS do
    local ev = events:receive()
    if ev.kind == process.event.LINK_DOWN then
      restarts = restarts + 1
      io.print("worker went down: " .. tostring(ev.result.error) .. " (restart " .. restarts .. ")")
      worker = process.spawn_linked("sup:worker", "sup:procs", "demo")
    end
  end
  process.send(worker, "stop")
  io.print("supervisor done after " .. restarts .. " restarts")
  return 0
end

return {main = main}
