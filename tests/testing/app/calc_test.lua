local test = require("test")
local calc = require("calc")

local function define_tests()
  test.describe("calculator", function()
    local started = false
    test.before_all(function() started = true end)

    test.it("setup ran", function() test.is_true(started) end)
    test.it("adds numbers", function() test.eq(calc.add(2, 3), 5) end)
    test.it("returns error on divide by zero", function()
      local result, err = calc.div(1, 0)
      test.has_error(result, err)
      test.contains(err, "division by zero")
    end)
    test.it("every assertion passes on good values", function()
      test.neq(1, 2); test.ok(1); test.is_nil(nil); test.not_nil(0); test.is_false(false)
      test.is_string("s"); test.is_number(1); test.is_table({}); test.is_function(print)
      test.is_boolean(true); test.matches("abc123", "%d+$"); test.has_key({a = 1}, "a")
      test.len({1, 2, 3}, 3); test.gt(2, 1); test.gte(2, 2); test.lt(1, 2); test.lte(2, 2)
      test.contains(test.throws(function() error("boom") end), "boom")
      test.no_error(1, nil); test.eq({a = {1, 2}}, {a = {1, 2}})
    end)
    test.it_skip("not implemented yet", function() test.fail("should not run") end)
  end)
  test.spec("aliases", function()
    test.context("when nested", function()
      test.it("runs", function() test.ok(true) end)
    end)
  end)
end

return {run = test.run_cases(define_tests)}
