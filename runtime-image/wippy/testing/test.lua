-- The `wippy.test:test` library: describe/it, assertions, hooks and mocks (framework/testing.md).
-- A test entry returns `test.run_cases(define)`; calling it runs the cases and returns a report
-- the runner reads: counts, and per case its path, status, time, and on failure the message,
-- the line of the failing assertion and the values it compared.
local test = {}

local clock = os.clock
local send = process and process.send   -- captured at load: a test mocking process.send keeps reporting
local state                       -- the run in progress (a fresh one per run_cases call)
local importer_env                -- the importing entry's globals, bound by the sandbox (mocks)

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts, n = {}, 0
  for k, x in pairs(v) do
    n = n + 1
    if n > 8 then parts[#parts + 1] = "..." break end
    parts[#parts + 1] = (type(k) == "string" and k or "[" .. tostring(k) .. "]") .. "=" .. (type(x) == "table" and "{...}" or show(x))
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Raise an assertion failure at the line of the test code that called the assertion.
local function failure(msg, detail, values)
  local text = detail
  if msg ~= nil then text = tostring(msg) .. ": " .. detail end
  if state then state.last_values = values end
  error(text, 3)
end

local function deep_eq(a, b)
  if a == b then return true end
  if type(a) ~= "table" or type(b) ~= "table" then return false end
  for k, v in pairs(a) do if not deep_eq(v, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end

function test.eq(actual, expected, msg)
  if not deep_eq(actual, expected) then
    failure(msg, "expected " .. show(expected) .. ", got " .. show(actual), {actual = show(actual), expected = show(expected)})
  end
end

function test.neq(actual, expected, msg)
  if deep_eq(actual, expected) then
    failure(msg, "expected a value other than " .. show(expected), {actual = show(actual), expected = "not " .. show(expected)})
  end
end

function test.ok(v, msg)
  if not v then failure(msg, "expected a truthy value, got " .. show(v), {actual = show(v), expected = "truthy"}) end
  return v
end

function test.fail(msg)
  failure(nil, msg and tostring(msg) or "failed", nil)
end

function test.is_nil(v, msg)
  if v ~= nil then failure(msg, "expected nil, got " .. show(v), {actual = show(v), expected = "nil"}) end
end

function test.not_nil(v, msg)
  if v == nil then failure(msg, "expected a value, got nil", {actual = "nil", expected = "not nil"}) end
  return v
end

function test.is_true(v, msg)
  if v ~= true then failure(msg, "expected true, got " .. show(v), {actual = show(v), expected = "true"}) end
end

function test.is_false(v, msg)
  if v ~= false then failure(msg, "expected false, got " .. show(v), {actual = show(v), expected = "false"}) end
end

for _, t in ipairs({"string", "number", "table", "function", "boolean"}) do
  test["is_" .. t] = function(v, msg)
    if type(v) ~= t then failure(msg, "expected a " .. t .. ", got " .. type(v) .. " " .. show(v), {actual = type(v), expected = t}) end
    return v
  end
end

function test.contains(s, sub, msg)
  if type(s) ~= "string" or not string.find(s, tostring(sub), 1, true) then
    failure(msg, "expected " .. show(s) .. " to contain " .. show(sub), {actual = show(s), expected = "contains " .. show(sub)})
  end
end

function test.matches(s, pattern, msg)
  if type(s) ~= "string" or not string.match(s, pattern) then
    failure(msg, "expected " .. show(s) .. " to match " .. show(pattern), {actual = show(s), expected = "matches " .. show(pattern)})
  end
end

function test.has_key(t, key, msg)
  if type(t) ~= "table" or t[key] == nil then
    failure(msg, "expected a table with key " .. show(key) .. ", got " .. show(t), {actual = show(t), expected = "key " .. show(key)})
  end
end

function test.len(v, n, msg)
  local ok, got = pcall(function() return #v end)
  if not ok or got ~= n then
    failure(msg, "expected length " .. tostring(n) .. ", got " .. (ok and tostring(got) or type(v)), {actual = ok and tostring(got) or type(v), expected = tostring(n)})
  end
end

local function compare(name, op, sym)
  test[name] = function(a, b, msg)
    if type(a) ~= "number" or type(b) ~= "number" or not op(a, b) then
      failure(msg, "expected " .. show(a) .. " " .. sym .. " " .. show(b), {actual = show(a), expected = sym .. " " .. show(b)})
    end
  end
end
compare("gt", function(a, b) return a > b end, ">")
compare("gte", function(a, b) return a >= b end, ">=")
compare("lt", function(a, b) return a < b end, "<")
compare("lte", function(a, b) return a <= b end, "<=")

function test.throws(fn, msg)
  local ok, err = pcall(fn)
  if ok then failure(msg, "expected an error, got none", {actual = "no error", expected = "an error"}) end
  return err
end

function test.has_error(val, err, msg)
  if val ~= nil or err == nil then
    failure(msg, "expected (nil, error), got (" .. show(val) .. ", " .. show(err) .. ")", {actual = show(val) .. ", " .. show(err), expected = "nil, error"})
  end
  return err
end

function test.no_error(val, err, msg)
  if err ~= nil then failure(msg, "expected no error, got " .. tostring(err), {actual = tostring(err), expected = "no error"}) end
  return val
end

---------------------------------------------------------------------------
-- suites and cases
---------------------------------------------------------------------------
local function new_suite(name, parent)
  return {name = name, parent = parent, items = {}, before_all = {}, after_all = {},
          before_each = {}, after_each = {}}
end

local defining   -- the suite whose body is being defined

local function add(kind, name, fn)
  if not defining then error("test." .. kind .. " must be called while tests are defined (inside run_cases' function)", 3) end
  defining.items[#defining.items + 1] = {kind = kind, name = tostring(name), fn = fn}
end

function test.describe(name, fn)
  if not defining then error("test.describe must be called inside the function given to run_cases", 2) end
  local suite = new_suite(tostring(name), defining)
  defining.items[#defining.items + 1] = {kind = "suite", suite = suite}
  local outer = defining
  defining = suite
  local ok, err = pcall(fn)
  defining = outer
  if not ok then error(err, 0) end
end
test.spec = test.describe
test.context = test.describe

function test.it(name, fn) add("case", name, fn) end
function test.it_skip(name, fn) add("skip", name, fn) end

for _, hook in ipairs({"before_all", "after_all", "before_each", "after_each"}) do
  test[hook] = function(fn)
    if not defining then error("test." .. hook .. " must be called inside describe", 2) end
    local list = defining[hook]
    list[#list + 1] = fn
  end
end

---------------------------------------------------------------------------
-- mocks: replace a field of a global table in the importing entry's globals for one case
---------------------------------------------------------------------------
local mocks = {}        -- path -> {global = name, had = previous env value}

function test.mock(path, replacement)
  local global, field = string.match(tostring(path), "^([%w_]+)%.([%w_]+)$")
  if not global then error("test.mock wants 'object.field', got " .. tostring(path), 2) end
  if not importer_env then error("test.mock: the test library was not imported by an entry", 2) end
  local original = importer_env[global]
  if type(original) ~= "table" then error("test.mock: global " .. global .. " is not a table", 2) end
  if not mocks[path] then
    mocks[path] = {global = global, had = rawget(importer_env, global)}
  end
  local overlay = setmetatable({}, {__index = original})
  overlay[field] = replacement
  rawset(importer_env, global, overlay)
end

function test.mock_process(field, replacement) return test.mock("process." .. tostring(field), replacement) end

function test.restore_mock(path)
  local m = mocks[path]
  if not m then return end
  mocks[path] = nil
  rawset(importer_env, m.global, m.had)
end

function test.restore_all_mocks()
  -- restore in any order: each record holds what the global was before its first mock
  local paths = {}
  for p in pairs(mocks) do paths[#paths + 1] = p end
  table.sort(paths, function(a, b) return a > b end)
  for _, p in ipairs(paths) do test.restore_mock(p) end
end

---------------------------------------------------------------------------
-- running
---------------------------------------------------------------------------
local function where(err)
  local text = tostring(err)
  local chunk, line, msg = string.match(text, "^([^\n]-):(%d+): (.*)$")
  if chunk then return msg, chunk, tonumber(line) end
  return text
end

local function run_hooks(suite, name, outward)
  local chain = {}
  local s = suite
  while s do table.insert(chain, 1, s) s = s.parent end
  if outward then
    for i = #chain, 1, -1 do for _, h in ipairs(chain[i][name]) do h() end end
  else
    for _, c in ipairs(chain) do for _, h in ipairs(c[name]) do h() end end
  end
end

local function record(path, name, status, started, err)
  local case = {suite = table.concat(path, " / "), path = path, name = name, status = status,
                duration_ms = math.floor((clock() - started) * 1000 + 0.5)}
  if err ~= nil then
    local msg, chunk, line = where(err)
    case.error = msg
    case.entry, case.line = chunk, line
    if state.last_values then
      case.actual, case.expected = state.last_values.actual, state.last_values.expected
    end
  end
  state.last_values = nil
  state.cases[#state.cases + 1] = case
  if state.reporter and send then pcall(send, state.reporter, "test.case", case) end
  if status == "passed" then state.passed = state.passed + 1
  elseif status == "failed" then state.failed = state.failed + 1
  else state.skipped = state.skipped + 1 end
end

local function skip_all(suite, path, reason)
  for _, item in ipairs(suite.items) do
    if item.kind == "suite" then
      local p = {table.unpack(path)}
      p[#p + 1] = item.suite.name
      skip_all(item.suite, p, reason)
    else
      record(path, item.name, reason and "failed" or "skipped", clock(), reason)
    end
  end
end

local function run_own(list)
  for _, h in ipairs(list) do h() end
end

local function run_suite(suite, path)
  local ok, err = pcall(run_own, suite.before_all)
  if not ok then
    -- a failed before_all fails every case of its suite, with the hook's message
    skip_all(suite, path, err)
    return
  end
  for _, item in ipairs(suite.items) do
    if item.kind == "suite" then
      local p = {table.unpack(path)}
      p[#p + 1] = item.suite.name
      run_suite(item.suite, p)
    elseif item.kind == "skip" then
      record(path, item.name, "skipped", clock())
    else
      local started = clock()
      state.last_values = nil
      local ok1, e1 = pcall(run_hooks, suite, "before_each", false)
      local ok2, e2 = true, nil
      if ok1 then ok2, e2 = pcall(item.fn) end
      local values = state.last_values
      local ok3, e3 = pcall(run_hooks, suite, "after_each", true)
      test.restore_all_mocks()
      state.last_values = values
      local err1 = (not ok1 and e1) or (not ok2 and e2) or (not ok3 and e3) or nil
      record(path, item.name, err1 and "failed" or "passed", started, err1)
    end
  end
  local ok4, e4 = pcall(run_own, suite.after_all)
  if not ok4 then record(path, "after_all", "failed", clock(), e4) end
end

function test.run_cases(define)
  if type(define) ~= "function" then error("test.run_cases wants a function that defines the tests", 2) end
  return function(options)
    local root = new_suite("", nil)
    state = {cases = {}, passed = 0, failed = 0, skipped = 0,
             reporter = type(options) == "table" and options.reporter or nil}
    local started = clock()
    defining = root
    local ok, err = pcall(define)
    defining = nil
    if not ok then
      record({}, "defining tests", "failed", started, err)
    else
      run_suite(root, {})
    end
    local result = {
      bdd = true,
      cases = state.cases,
      total_tests = #state.cases,
      passed_tests = state.passed,
      failed_tests = state.failed,
      skipped_tests = state.skipped,
      duration_ms = math.floor((clock() - started) * 1000 + 0.5),
    }
    state = nil
    return result
  end
end

-- The sandbox hands the library its importer's globals (mocks change them, nothing else does).
function test.__bind(env) importer_env = env end

return test
