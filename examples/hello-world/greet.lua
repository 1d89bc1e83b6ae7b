local function greet(who)
  return "Hello, " .. (who or "world") .. "!"
end

return {greet = greet}
