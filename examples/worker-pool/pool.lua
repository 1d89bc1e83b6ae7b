local io = require("io")
local squares = require("squares")

local function main(workers, jobs)
  workers = tonumber(workers) or 3
  jobs = tonumber(jobs) or 10
  local sum, count = squares.square_all(workers, jobs)
  io.print(string.format("%d jobs done by %d workers, sum of squares = %d", jobs, count, sum))
  return 0
end

return {main = main}
