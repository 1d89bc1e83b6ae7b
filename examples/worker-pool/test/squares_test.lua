local test = require("test")
local squares = require("squares")

local function define_tests()
  test.describe("square_all", function()
    test.it("sums the squares of 1..n", function()
      local sum = squares.square_all(3, 10)
      test.eq(sum, 385)
    end)
    test.it("spreads the jobs over the workers", function()
      local _, used = squares.square_all(4, 20)
      test.gt(used, 1)
      test.lte(used, 4)
    end)
    test.it("works with one worker", function()
      test.eq(squares.square_all(1, 3), 14)
    end)
  end)
end

return {run = test.run_cases(define_tests)}
