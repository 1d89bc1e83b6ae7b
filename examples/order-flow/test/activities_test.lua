local test = require("test")
local funcs = require("funcs")

-- the activities are plain functions: they can be called without a workflow around them
local function define_tests()
  test.describe("activities", function()
    test.it("reserves inventory for the items", function()
      test.eq(funcs.call("app:reserve_inventory", {"a", "b"}), {id = "inv-2", items = {"a", "b"}})
    end)
    test.it("reserves nothing for no items", function()
      test.is_nil(funcs.call("app:reserve_inventory", {}))
    end)
    test.it("charges a positive total", function()
      test.eq(funcs.call("app:charge_payment", 30).amount, 30)
    end)
    test.it("charges nothing for a zero total", function()
      test.is_nil(funcs.call("app:charge_payment", 0))
    end)
    test.it("fulfills an order", function()
      test.eq(funcs.call("app:fulfill_order", "o-1").status, "fulfilled")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
