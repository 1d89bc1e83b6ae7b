-- GET /api/ticks -> three server-sent events, 100ms apart
local http = require("http")
local time = require("time")

type Tick = {name: "tick", id: integer, data: {n: integer}}

local function handler(): (nil, error?)
  local res = http.response()
  for i = 1, 3 do
    local event: Tick = {name = "tick", id = i, data = {n = i}}
    local err = res:write_event(event)
    if err then return nil, err end   -- the client went away
    time.sleep("100ms")
  end
  return nil
end

return {handler = handler}
