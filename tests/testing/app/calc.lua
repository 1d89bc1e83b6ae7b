local function add(a, b) return a + b end
local function div(a, b)
  if b == 0 then return nil, "division by zero" end
  return a / b
end
return {add = add, div = div}
