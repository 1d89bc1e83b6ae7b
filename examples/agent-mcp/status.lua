-- GET /api/status -> {"ok": true}
local http = require("http")

type Status = {ok: boolean}

local function handler()
  local status: Status = {ok = true}
  http.response():write_json(status)
end

return {handler = handler}
