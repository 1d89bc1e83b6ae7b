-- GET /api/ticks -> three server-sent events, 100ms apart
local http = require("http")
local time = require("time")

local function handler()
  local res = http.response()
  for i = 1, 3 do
    local err = res:write_event({name = "tick", id = i, data = {n = i}})
    if err then return nil, err end   -- the client went away
    time.sleep("100ms")
  end
end

return {handler = handler}
