local io = require("io")
local funcs = require("funcs")

local function main(who: string?): (integer?, error?)
  local text, err = funcs.call("hello:greet", who)
  if err then return nil, err end
  io.print(text)
  return 0
end

return {main = main}
