local test = require("test")
local http_client = require("http_client")
local json = require("json")
local env = require("env")

local function define_tests()
  test.describe("GET /api/status", function()
    test.it("answers ok", function()
      local res = test.no_error(http_client.get("http://" .. (env.get("HTTP_ADDR") or "127.0.0.1:8080") .. "/api/status"))
      test.eq(res.status_code, 200)
      test.eq(json.decode(res.body), {ok = true})
    end)
  end)
end

return {run = test.run_cases(define_tests)}
