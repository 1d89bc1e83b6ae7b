local test = require("test")
local registry = require("registry")
local funcs = require("funcs")

local function define(op, body)
  local changes = registry.snapshot():changes()
  return changes[op](changes, {
    id = "dyn.test:shout", kind = "function.lua",
    data = {source = "return function(who) " .. body .. " end", method = "call"},
  }):apply()
end

local function define_tests()
  test.describe("entries changed at run time", function()
    local v1
    test.before_all(function()
      local err
      v1, err = define(registry.get("dyn.test:shout") and "update" or "create", 'return "hi " .. who')
      test.no_error(v1, err)
    end)

    test.it("a created function can be called", function()
      test.eq(funcs.call("dyn.test:shout", "ann"), "hi ann")
    end)

    test.it("an update changes the next call", function()
      test.no_error(define("update", 'return string.upper(who)'))
      test.eq(funcs.call("dyn.test:shout", "ann"), "ANN")
    end)

    test.it("a broken change is refused and changes nothing", function()
      local before = registry.current_version():id()
      local v, err = define("update", "return (((")
      test.has_error(v, err)
      test.eq(registry.current_version():id(), before)
      test.eq(funcs.call("dyn.test:shout", "ann"), "ANN")
    end)

    test.it("rolling back restores the first version", function()
      test.ok(registry.apply_version(v1))
      test.eq(funcs.call("dyn.test:shout", "ann"), "hi ann")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
