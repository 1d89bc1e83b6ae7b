-- The `subscribe` and `unsubscribe` globals (lua/overview.md): the event bus without
-- `require("events")`. subscribe(system, kind?) -> Subscription | nil, err;
-- unsubscribe(sub) closes it.
local S = ...
local type, new_error = type, S.new_error
local events = S.modules.events
if not events then return nil end

S.base_raw.subscribe = events.subscribe
S.base_raw.unsubscribe = function(sub)
  if type(sub) ~= "table" or type(sub.close) ~= "function" then
    return nil, new_error("Invalid", "unsubscribe expects a subscription from subscribe()", false)
  end
  return sub:close()
end
return nil
