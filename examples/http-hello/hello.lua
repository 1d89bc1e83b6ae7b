-- GET /api/hello/{who}?greeting=hi -> {"message": "hi, who"}
local http = require("http")

local function handler()
  local req = http.request()
  local res = http.response()
  local who = req:param("who")
  if #who > 64 then
    res:set_status(http.STATUS.BAD_REQUEST)
    res:write_json({error = "name too long"})
    return
  end
  res:write_json({message = (req:query("greeting") or "hello") .. ", " .. who})
end

return {handler = handler}
