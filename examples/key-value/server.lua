type Request = {key: string, value: string?}

local function main(parent: string?): (string?, error?)
  local ok, err = process.registry.register("kv")
  if not ok then return nil, err end
  if parent then process.send(parent, "ready", true) end
  local store: {[string]: string} = {}
  local inbox = process.inbox()
  local events = process.events()
  while true do
    local r = channel.select({inbox:case_receive(), events:case_receive()})
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return "stopped" end
    else
      local msg = r.value
      local req = Request(msg:payload():data())
      local topic: string = msg:topic()
      if topic == "set" then
        store[req.key] = req.value
        process.send(msg:from(), "ok", {key = req.key})
      elseif topic == "get" then
        process.send(msg:from(), "value", {key = req.key, value = store[req.key]})
      elseif topic == "delete" then
        store[req.key] = nil
        process.send(msg:from(), "ok", {key = req.key})
      else
        process.send(msg:from(), "error", {message = "unknown command " .. topic})
      end
    end
  end
end

return {main = main}
