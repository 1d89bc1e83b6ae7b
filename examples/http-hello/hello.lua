-- GET /api/hello/{who}?greeting=hi -> {"message": "hi, who"}
local http = require("http")

type Greeting = {message: string}

local MAX_NAME: integer = 64

local function handler()
  local req = http.request()
  local res = http.response()
  local who: string = req:param("who")
  if #who > MAX_NAME then
    res:set_status(http.STATUS.BAD_REQUEST)
    res:write_json({error = "name too long"})
    return
  end
  local greeting: string = req:query("greeting") or "hello"
  local body: Greeting = {message = greeting .. ", " .. who}
  res:write_json(body)
end

return {handler = handler}
