local test = require("test")
local calc = require("calc")

local function define_tests()
  test.describe("failures", function()
    test.it("reports the values compared", function()
      test.eq(calc.add(2, 2), 5)
    end)
    test.it("passes", function() test.ok(true) end)
    test.it("reports a message", function()
      test.gt(1, 2, "one is not more than two")
    end)
    test.it("reports a runtime error", function()
      local t = nil
      return t.field
    end)
  end)
end

local run_cases = test.run_cases(define_tests)

-- the pattern of framework/testing.md: raise when a case failed
local function run(options)
  local result = run_cases(options)
  if result.failed_tests > 0 then error("tests failed: " .. result.failed_tests) end
  return result
end

return {run = run}
