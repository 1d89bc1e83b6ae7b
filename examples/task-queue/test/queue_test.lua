local test = require("test")
local funcs = require("funcs")
local time = require("time")

-- the task with this id from the list, once its status is `status` (nil after 5 s)
local function wait_for(id, status)
  for _ = 1, 100 do
    for _, t in ipairs(funcs.call("tasks:list") or {}) do
      if t.id == id and t.status == status then return t end
    end
    time.sleep("50ms")
  end
end

local function define_tests()
  test.describe("tasks", function()
    test.it("a submitted task is queued, then done by the consumer", function()
      local task = test.no_error(funcs.call("tasks:submit", "write tests"))
      test.eq(task.status, "queued")
      local done = test.not_nil(wait_for(task.id, "done"), "task not done within 5s")
      test.eq(done.result, "WRITE TESTS")
    end)

    test.it("an empty title is refused", function()
      local task, err = funcs.call("tasks:submit", "")
      test.has_error(task, err)
      test.eq(err!:kind(), errors.INVALID)  -- has_error checked it
    end)
  end)
end

return {run = test.run_cases(define_tests)}
