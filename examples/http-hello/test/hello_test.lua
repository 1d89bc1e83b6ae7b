local test = require("test")
local http_client = require("http_client")
local json = require("json")
local env = require("env")

local function url(path)
  return "http://" .. (env.get("HTTP_ADDR") or "127.0.0.1:8080") .. path
end

local function define_tests()
  test.describe("GET /api/hello/{who}", function()
    test.it("greets by name", function()
      local res = test.no_error(http_client.get(url("/api/hello/ann")))
      test.eq(res.status_code, 200)
      test.eq(json.decode(res.body), {message = "hello, ann"})
    end)

    test.it("takes the greeting from the query", function()
      local res = test.no_error(http_client.get(url("/api/hello/bob?greeting=hi")))
      test.eq(json.decode(res.body).message, "hi, bob")
    end)

    test.it("refuses a name longer than 64 characters", function()
      local res = test.no_error(http_client.get(url("/api/hello/" .. string.rep("x", 65))))
      test.eq(res.status_code, 400)
      test.contains(res.body, "name too long")
    end)
  end)
end

return {run = test.run_cases(define_tests)}
