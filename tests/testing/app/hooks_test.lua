local test = require("test")
local log = {}

local function define_tests()
  test.describe("outer", function()
    test.before_all(function() log[#log + 1] = "outer.before_all" end)
    test.before_each(function() log[#log + 1] = "outer.before_each" end)
    test.after_each(function() log[#log + 1] = "outer.after_each" end)
    test.describe("inner", function()
      test.before_each(function() log[#log + 1] = "inner.before_each" end)
      test.after_each(function() log[#log + 1] = "inner.after_each" end)
      test.it("case", function() log[#log + 1] = "case" end)
    end)
    test.it("hooks ran parent first on the way in, child first on the way out", function()
      test.eq(table.concat(log, ","), "outer.before_all,outer.before_each,inner.before_each,case,"
        .. "inner.after_each,outer.after_each,outer.before_each")
    end)
  end)

  test.describe("mocks", function()
    test.it("replace a global's field for one case", function()
      local sent = {}
      test.mock("process.send", function(pid, topic, text) sent[#sent + 1] = text; return true end)
      process.send("nobody", "note", "direct")
      test.eq(sent, {"direct"})
    end)
    test.it("are restored after the case", function()
      local ok, err = process.send("nobody", "note", "x")
      test.is_nil(ok)
      test.not_nil(err)
    end)
    test.it("mock_process and restore_mock", function()
      test.mock_process("pid", function() return "fake" end)
      test.eq(process.pid(), "fake")
      test.restore_mock("process.pid")
      test.neq(process.pid(), "fake")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
