-- Approves or rejects an order workflow by sending it a message (a Temporal signal).
local time = require("time")

local function main(workflow_pid: string, approved: boolean): (boolean, error?)
  time.sleep("100ms")
  return process.send(workflow_pid, "approval", {approved = approved})
end

return {main = main}
