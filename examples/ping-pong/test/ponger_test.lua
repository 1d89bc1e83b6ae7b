local test = require("test")
local time = require("time")

-- the next message, or nil after a second
local function receive()
  local r = channel.select({process.inbox():case_receive(), time.after("1s"):case_receive()})
  if r.channel == process.inbox() then return r.value end
end

local function define_tests()
  test.describe("ponger", function()
    local ponger
    test.before_each(function()
      ponger = process.spawn("pingpong:ponger", "pingpong:procs")
    end)
    test.after_each(function()
      process.cancel(ponger, "done")
    end)

    test.it("answers a ping with the counter plus one", function()
      process.send(ponger, "ping", 41)
      local msg = test.not_nil(receive(), "no pong within a second")
      test.eq(msg:topic(), "pong")
      test.eq(msg:payload():data(), 42)
    end)

    test.it("answers every ping in order", function()
      for i = 1, 3 do process.send(ponger, "ping", i * 10) end
      for i = 1, 3 do test.eq(receive():payload():data(), i * 10 + 1) end
    end)
  end)
end

return {run = test.run_cases(define_tests)}
