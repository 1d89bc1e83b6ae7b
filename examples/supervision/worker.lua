local time = require("time")
local logger = require("logger")

local function main(label: string): string
  logger.info("worker started", {label = label, pid = process.pid()})
  local inbox = process.inbox()
  local r = channel.select({inbox:case_receive(), time.after("700ms"):case_receive()})
  if r.channel == inbox and r.value:topic() == "stop" then return "stopped" end
  error("worker crashed on purpose")
end

return {main = main}
