local function greet(who: string?): string
  return "Hello, " .. (who or "world") .. "!"
end

return {greet = greet}
