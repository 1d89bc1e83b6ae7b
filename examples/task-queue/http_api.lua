-- HTTP front of the task queue:
--   POST /api/tasks {"title": "..."} -> 201 {"id": .., "status": "queued"}
--   GET  /api/tasks                  -> 200 [{id, title, status, result, attempts}, ...]
local http = require("http")
local funcs = require("funcs")

local function fail(res: any, err: any)
  local status: integer = errors.is(err, errors.INVALID) and http.STATUS.BAD_REQUEST or http.STATUS.INTERNAL_ERROR
  res:set_status(status)
  res:write_json({error = err:message()})
end

local function submit()
  local req, res = http.request(), http.response()
  local body, err = req:body_json()
  if not body then
    return fail(res, errors.new({kind = errors.INVALID, message = "body must be JSON: " .. tostring(err)}))
  end
  local task, serr = funcs.call("tasks:submit", body.title)
  if not task then return fail(res, serr) end
  res:set_status(http.STATUS.CREATED)
  res:write_json(task)
end

local function list()
  local res = http.response()
  local tasks, err = funcs.call("tasks:list")
  if not tasks then return fail(res, err) end
  res:write_json(tasks)
end

return {submit = submit, list = list}
