local function main()
  local inbox = process.inbox()
  local events = process.events()
  while true do
    local r = channel.select({inbox:case_receive(), events:case_receive()})
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return "stopped" end
    else
      local msg = r.value
      process.send(msg:from(), "pong", msg:payload():data() + 1)
    end
  end
end

return {main = main}
