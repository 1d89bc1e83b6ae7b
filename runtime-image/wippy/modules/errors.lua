-- The `errors` global: structured errors with a kind, retryable flag and details.
local S = ...

local type, tostring, setmetatable, getmetatable = type, tostring, setmetatable, getmetatable
local new_error, is_error, ERR = S.new_error, S.is_error, S.ERR
local traceback = debug.traceback

local errors = {
  UNKNOWN = "", NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists", INVALID = "Invalid",
  PERMISSION_DENIED = "PermissionDenied", UNAVAILABLE = "Unavailable", INTERNAL = "Internal",
  CANCELED = "Canceled", CONFLICT = "Conflict", TIMEOUT = "Timeout", RATE_LIMITED = "RateLimited",
}
local known = {}
for _, v in pairs(errors) do known[v] = true end

-- where errors.new was called, for err:stack() and errors.call_stack
local function here() return traceback("", 3) end

function errors.new(a, b)
  if type(a) == "table" and not is_error(a) then
    return new_error(a.kind or "", a.message ~= nil and tostring(a.message) or "", a.retryable, a.details, here())
  end
  -- errors.new(kind, message) is accepted too, as some Wippy examples write it
  if b ~= nil and type(a) == "string" and known[a] then return new_error(a, tostring(b), nil, nil, here()) end
  if is_error(a) then return a end
  return new_error("", tostring(a), nil, nil, here())
end

function errors.wrap(err, message)
  if err == nil then return nil end
  if not is_error(err) then err = new_error("", tostring(err)) end
  return setmetatable({_kind = err._kind, _message = tostring(message) .. ": " .. err._message,
                       _retryable = err._retryable, _details = err._details, _stack = err._stack,
                       _cause = err}, ERR)
end

function errors.is(err, kind)
  if not is_error(err) then return false end
  return err._kind == kind
end

-- frames parsed from the traceback captured where the error was raised
function errors.call_stack(err)
  if not is_error(err) or not err._stack then return nil end
  local frames = {}
  for line in err._stack:gmatch("[^\n]+") do
    local source, lno, name = line:match("^%s*(.-):(%d+): in (.*)$")
    if source then frames[#frames + 1] = {source = source, line = tonumber(lno), name = name} end
  end
  return {thread = "main", frames = frames}
end

return errors
