type Request = {key: string, value: any}
type Command = "set" | "get" | "delete"

local COMMANDS: {[string]: boolean} = {set = true, get = true, delete = true}

local function main(parent: string?): (string?, error?)
  local ok, err = process.registry.register("kv")
  if not ok then return nil, err end
  if parent then process.send(parent, "ready", true) end
  local store: {[string]: any} = {}
  local inbox = process.inbox()
  local events = process.events()
  while true do
    local r = channel.select({inbox:case_receive(), events:case_receive()})
    if r.channel == events then
      if r.value.kind == process.event.CANCEL then return "stopped" end
    else
      local msg = r.value
      local topic: string = msg:topic()
      local req, invalid = Request:is(msg:payload():data())
      if not COMMANDS[topic] then
        process.send(msg:from(), "error", {message = "unknown command " .. topic})
      elseif not req then
        process.send(msg:from(), "error", {message = tostring(invalid)})
      else
        local command = topic :: Command
        if command == "set" then
          store[req.key] = req.value
          process.send(msg:from(), "ok", {key = req.key})
        elseif command == "get" then
          process.send(msg:from(), "value", {key = req.key, value = store[req.key]})
        else
          store[req.key] = nil
          process.send(msg:from(), "ok", {key = req.key})
        end
      end
    end
  end
end

return {main = main}
