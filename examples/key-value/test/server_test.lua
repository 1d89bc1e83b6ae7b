local test = require("test")

local function call(topic, req)
  process.send("kv", topic, req)
  local msg = process.inbox():receive()
  return msg:payload():data(), msg:topic()
end

local function define_tests()
  test.describe("kv server", function()
    local server
    test.before_all(function()
      server = process.spawn("kv:server", "kv:procs", process.pid())
      test.eq(process.inbox():receive():topic(), "ready")
    end)
    test.after_all(function() process.cancel(server, "done") end)

    test.it("stores and reads a key", function()
      call("set", {key = "lang", value = "lua"})
      test.eq(call("get", {key = "lang"}).value, "lua")
    end)

    test.it("forgets a deleted key", function()
      call("set", {key = "gone", value = 1})
      call("delete", {key = "gone"})
      test.is_nil(call("get", {key = "gone"}).value)
    end)

    test.it("refuses an unknown command", function()
      local reply, topic = call("frobnicate", {})
      test.eq(topic, "error")
      test.contains(reply.message, "unknown command")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
