-- GET /api/status -> {"ok": true}
local http = require("http")

local function handler()
  http.response():write_json({ok = true})
end

return {handler = handler}
