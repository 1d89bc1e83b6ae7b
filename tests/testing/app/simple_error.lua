local function main()
  local result = 1 + 1
  if result ~= 3 then
    error("expected 3, got " .. result)
  end
  return true
end

return {main = main}
