local test = require("test")
local funcs = require("funcs")

local function define_tests()
  test.describe("greet", function()
    test.it("greets by name", function()
      test.eq(funcs.call("hello:greet", "Ann"), "Hello, Ann!")
    end)
    test.it("greets the world without a name", function()
      test.eq(funcs.call("hello:greet"), "Hello, world!")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
