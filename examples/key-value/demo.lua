local io = require("io")
local json = require("json")

type Reply = {key: string, value: string?}

local function call(topic: "set" | "get" | "delete", req: {key: string, value: string?}): Reply
  process.send("kv", topic, req)
  local msg = process.inbox():receive()
  return msg:payload():data()
end

local function main(): integer
  local server = process.spawn("kv:server", "kv:procs", process.pid())
  process.inbox():receive()   -- "ready": the server has registered its name
  call("set", {key = "lang", value = "lua"})
  call("set", {key = "model", value = "actors"})
  io.print("lang = " .. (call("get", {key = "lang"}).value or "?"))
  io.print("model = " .. (call("get", {key = "model"}).value or "?"))
  call("delete", {key = "lang"})
  local gone = call("get", {key = "lang"})
  io.print("after delete: " .. (json.encode(gone) or "?"))
  process.cancel(server, "done")
  return 0
end

return {main = main}
