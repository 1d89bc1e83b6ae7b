-- The process each test entry runs in (`wippy.test:run`): the test function is called on this
-- process's task, so a test can spawn, send and receive as any process code can.
local funcs = require("funcs")

local function main(test_id, options)
  local result, err = funcs.call(test_id, options)
  if err ~= nil then return {error = tostring(err)} end
  return {value = result}
end

return {main = main}
