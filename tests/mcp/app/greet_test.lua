local test = require("test")
local funcs = require("funcs")

local function define_tests()
  test.describe("app:greet", function()
    test.it("greets by name", function()
      test.eq(funcs.call("app:greet", "Ann"), "Hello, Ann!")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
