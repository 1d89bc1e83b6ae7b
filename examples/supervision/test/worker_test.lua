local test = require("test")
local time = require("time")

local function next_event(timeout)
  local events = process.events()
  local r = channel.select({events:case_receive(), time.after(timeout):case_receive()})
  if r.channel == events then return r.value end
end

local function define_tests()
  test.describe("worker", function()
    test.before_all(function() process.set_options({trap_links = true}) end)

    test.it("stops cleanly when told to", function()
      local pid = process.spawn_monitored("sup:worker", "sup:procs", "test")
      process.send(pid, "stop", true)
      local ev = test.not_nil(next_event("2s"), "no exit event")
      test.eq(ev.kind, process.event.EXIT)
      test.is_nil(ev.result.error)
      test.eq(ev.result.value, "stopped")
    end)

    test.it("crashes on its own, and a linked parent hears of it", function()
      process.spawn_linked("sup:worker", "sup:procs", "test")
      local ev = test.not_nil(next_event("3s"), "no link event")
      test.eq(ev.kind, process.event.LINK_DOWN)
    end)
  end)
end

return {run = test.run_cases(define_tests)}
