local io = require("io")
local registry = require("registry")
local funcs = require("funcs")

type Op = "create" | "update"

local function define(changes: any, op: Op, body: string): any
  return changes[op](changes, {
    id = "dyn:greet",
    kind = "function.lua",
    meta = {comment = "written at run time"},
    -- the code written at run time is typed Lua too
    data = {source = "return function(who: string): string " .. body .. " end", method = "call"},
  })
end

local function greet(): string
  return tostring(funcs.call("dyn:greet", "agent"))
end

local function main(): (integer?, error?)
  -- history survives restarts: a second run finds the entry from the first
  local first: Op = registry.get("dyn:greet") and "update" or "create"
  local v1, err = define(registry.snapshot():changes(), first, 'return "hello, " .. who'):apply()
  if not v1 then return nil, err end
  io.print("v" .. v1:id() .. ": " .. greet())

  local v2, err2 = define(registry.snapshot():changes(), "update", 'return "HELLO, " .. string.upper(who) .. "!"'):apply()
  if not v2 then return nil, err2 end
  io.print("v" .. v2:id() .. ": " .. greet())

  -- a broken change is refused as a whole and changes nothing
  local _, bad = define(registry.snapshot():changes(), "update", 'return ((('):apply()
  io.print("broken change refused: " .. tostring(bad ~= nil))
  io.print("still v" .. registry.current_version():id() .. ": " .. greet())

  local ok, rerr = registry.apply_version(v1)
  if not ok then return nil, rerr end
  io.print("rolled back to v" .. registry.current_version():id() .. ": " .. greet())
  return 0
end

return {main = main}
