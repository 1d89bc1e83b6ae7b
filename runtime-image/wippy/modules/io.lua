-- The `io` module (terminal hosts only): the process's stdin and stdout, raw mode.
local S, P, py = ...
local select, tostring, concat = select, tostring, table.concat

local function joined(sep, ...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  return concat(parts, sep)
end

return {
  write = function(...) return py.write(joined("", ...)) end,
  print = function(...) return py.write(joined("\t", ...) .. "\n") end,
  eprint = function(...) return py.ewrite(joined("\t", ...) .. "\n") end,
  flush = py.flush,
  readline = py.readline,
  read = function(n) return py.read(math.type(n) == "integer" and n or nil) end,
  raw = function(enable) return py.raw(enable == nil or enable == true) end,
  args = py.args,
}
