local io = require("io")

local function main(arg: string?): integer
  local rounds: integer = math.tointeger(tonumber(arg)) or 3
  local ponger = process.spawn_monitored("pingpong:ponger", "pingpong:procs")
  local inbox = process.inbox()
  local n: integer = 0
  for i = 1, rounds do
    process.send(ponger, "ping", n)
    local msg = inbox:receive()
    n = msg:payload():data()
    io.print("round " .. i .. ": " .. msg:topic() .. " " .. n)
  end
  process.cancel(ponger, "game over")
  local ev = process.events():receive()
  io.print("ponger exited: " .. tostring(ev.result.value))
  return 0
end

return {main = main}
