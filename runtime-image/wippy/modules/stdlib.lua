-- Standard-library functions lua/core/base.md lists that Lua 5.4 dropped (Wippy keeps them):
-- math.pow, math.log10, math.atan2, math.sinh, math.cosh, math.tanh. Installed into the
-- shared `math` before the sandbox seals it.
local S = ...
local math, exp, log, atan, type = math, math.exp, math.log, math.atan, type

local function num(x, name)
  if type(x) ~= "number" then error("bad argument to '" .. name .. "' (number expected, got " .. type(x) .. ")", 3) end
  return x
end

math.pow = function(x, y) return num(x, "pow") ^ num(y, "pow") end
math.log10 = function(x) return log(num(x, "log10"), 10) end
math.atan2 = function(y, x) return atan(num(y, "atan2"), num(x, "atan2")) end
math.sinh = function(x) x = num(x, "sinh"); return (exp(x) - exp(-x)) / 2 end
math.cosh = function(x) x = num(x, "cosh"); return (exp(x) + exp(-x)) / 2 end
math.tanh = function(x)
  x = num(x, "tanh")
  if x > 20 then return 1.0 elseif x < -20 then return -1.0 end
  local a, b = exp(x), exp(-x)
  return (a - b) / (a + b)
end
return nil
