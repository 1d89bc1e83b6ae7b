local io = require("io")
local squares = require("squares")

local function main(workers_arg: string?, jobs_arg: string?): integer
  local workers: integer = math.tointeger(tonumber(workers_arg)) or 3
  local jobs: integer = math.tointeger(tonumber(jobs_arg)) or 10
  local sum, count = squares.square_all(workers, jobs)
  io.print(string.format("%d jobs done by %d workers, sum of squares = %d", jobs, count, sum))
  return 0
end

return {main = main}
