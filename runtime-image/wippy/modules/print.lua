-- The `print` global: writes to the structured log, tagged with the entry and pid.
local S, P, py = ...
local select, tostring, concat = select, tostring, table.concat
return function(...)
  local n = select("#", ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  local t = S.current()
  py.emit(concat(parts, "\t"), t and t.fac and t.fac.id, t and t.proc and t.proc.pid)
end
