local logger = require("logger")

local function greet(who)
  logger.info("greeting", {who = who})
  return "Hello, " .. (who or "world") .. "!"
end

return {greet = greet}
