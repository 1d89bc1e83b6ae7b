local time = require("time")

export type Result = {worker: integer, n: integer, square: integer}

-- square 1..jobs with a pool of `workers` coroutines fed through a channel;
-- returns the sum of squares and how many workers took part
local function square_all(workers: integer, jobs: integer): (integer, integer)
  local tasks = channel.new(jobs)
  local results = channel.new(jobs)

  for w = 1, workers do
    coroutine.spawn(function()
      while true do
        local n, ok = tasks:receive()
        if not ok then return end          -- channel closed and drained
        time.sleep("1ms")                  -- pretend to work; yields, never blocks
        local r: Result = {worker = w, n = n, square = n * n}
        results:send(r)
      end
    end)
  end

  for n = 1, jobs do tasks:send(n) end
  tasks:close()

  local sum: integer = 0
  local used: {[integer]: boolean} = {}
  for _ = 1, jobs do
    local r: Result = results:receive()
    sum = sum + r.square
    used[r.worker] = true
  end
  local count: integer = 0
  for _ in pairs(used) do count = count + 1 end
  return sum, count
end

return {square_all = square_all}
