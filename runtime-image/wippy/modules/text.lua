-- The `text` module: RE2 regular expressions, diffs and patches, text splitters.
-- Objects are shared-safe: each holds no fields of its own (the Python object behind it is
-- in STATE) and cannot be written to.
local S, P, py = ...
local type, setmetatable, error, utf8len, math_type = type, setmetatable, error, utf8.len, math.type
local new_error, arg = S.new_error, S.bytes.arg

local STATE = setmetatable({}, {__mode = "k"})

local function class(name, methods)
  return {__index = methods, __name = name,
          __newindex = function() error("a " .. name .. " cannot be modified", 2) end}
end
local function new(mt, handle)
  local o = setmetatable({}, mt)
  STATE[o] = handle
  S.protected[o] = true
  return o
end
local function handle(o, name)
  local h = STATE[o]
  if h == nil then error("expected a " .. name .. " (call methods with ':')", 3) end
  return h
end
local function invalid(msg) return nil, new_error("Invalid", msg, false) end
local function str_arg(s, what)
  if type(s) ~= "string" then error(what .. " must be a string", 3) end
  return s
end
local function utf8_arg(s, what)
  if type(s) ~= "string" then return false, what .. " must be a string" end
  if not utf8len(s) then return false, what .. " is not valid UTF-8" end
  return true
end

local text = {regexp = {}, diff = {}, splitter = {}}

---------------------------------------------------------------------------
-- regular expressions
---------------------------------------------------------------------------
local RE = {}
local RE_MT = class("Regexp", RE)
local call = py.call

for _, m in ipairs({"match_string", "find_string", "find_all_string", "find_string_submatch",
                    "find_all_string_submatch", "find_string_index", "find_all_string_index"}) do
  RE[m] = function(self, s)
    local rx = handle(self, "Regexp")
    return call(rx, m, arg(str_arg(s, "s"), 2))
  end
end

function RE:replace_all_string(s, repl)
  local rx = handle(self, "Regexp")
  local ref, n = arg(str_arg(s, "s"), 2)
  return py.replace_all(rx, ref, n, arg(str_arg(repl, "repl"), 2))
end

function RE:split(s, n)
  local rx = handle(self, "Regexp")
  if n == nil then n = -1 end
  if math_type(n) ~= "integer" then error("n must be an integer", 2) end
  local ref, len = arg(str_arg(s, "s"), 2)
  return call(rx, "split", ref, len, n)
end

function RE:num_subexp() return py.num_subexp(handle(self, "Regexp")) end
function RE:subexp_names() return py.subexp_names(handle(self, "Regexp")) end
function RE:string() return py.pattern(handle(self, "Regexp")) end
RE_MT.__tostring = function(o) return py.pattern(STATE[o]) end

function text.regexp.compile(pattern)
  if type(pattern) ~= "string" then return invalid("pattern must be a string") end
  local rx, err = py.compile(arg(pattern))
  if rx == nil then return nil, err end
  return new(RE_MT, rx)
end

---------------------------------------------------------------------------
-- diffs and patches
---------------------------------------------------------------------------
local DIFF = {}
local DIFF_MT = class("Differ", DIFF)

function text.diff.new(options)
  if options ~= nil and type(options) ~= "table" then return invalid("options must be a table") end
  local d, err = py.differ(options)
  if d == nil then return nil, err end
  return new(DIFF_MT, d)
end

function DIFF:compare(a, b)
  local d = handle(self, "Differ")
  local ok, msg = utf8_arg(a, "text1")
  if ok then ok, msg = utf8_arg(b, "text2") end
  if not ok then return invalid(msg) end
  return py.compare(d, a, b)
end

local function diffs_arg(diffs)
  if type(diffs) ~= "table" then return false end
  return true
end

function DIFF:summarize(diffs)
  handle(self, "Differ")
  if not diffs_arg(diffs) then return invalid("diffs must be the array compare returned") end
  return py.summarize(diffs)
end
function DIFF:pretty_text(diffs)
  handle(self, "Differ")
  if not diffs_arg(diffs) then return invalid("diffs must be the array compare returned") end
  return py.pretty_text(diffs)
end
function DIFF:pretty_html(diffs)
  handle(self, "Differ")
  if not diffs_arg(diffs) then return invalid("diffs must be the array compare returned") end
  return py.pretty_html(diffs)
end

function DIFF:patch_make(a, b)
  local d = handle(self, "Differ")
  local ok, msg = utf8_arg(a, "text1")
  if ok then ok, msg = utf8_arg(b, "text2") end
  if not ok then return invalid(msg) end
  return py.patch_make(d, a, b)
end

function DIFF:patch_apply(patches, s)
  local d = handle(self, "Differ")
  if type(patches) ~= "table" then return invalid("patches must be the array patch_make returned") end
  local ok, msg = utf8_arg(s, "text")
  if not ok then return invalid(msg) end
  return py.patch_apply(d, patches, s)
end

---------------------------------------------------------------------------
-- splitters
---------------------------------------------------------------------------
local SPLIT = {}
local SPLIT_MT = class("Splitter", SPLIT)

local function splitter(kind)
  return function(options)
    if options ~= nil and type(options) ~= "table" then return invalid("options must be a table") end
    local sp, err = py.splitter(kind, options)
    if sp == nil then return nil, err end
    return new(SPLIT_MT, sp)
  end
end
text.splitter.recursive = splitter("recursive")
text.splitter.markdown = splitter("markdown")

function SPLIT:split_text(s)
  local sp = handle(self, "Splitter")
  local ok, msg = utf8_arg(s, "text")
  if not ok then return invalid(msg) end
  return py.split_text(sp, s)
end

function SPLIT:split_batch(pages)
  local sp = handle(self, "Splitter")
  if type(pages) ~= "table" then return invalid("pages must be an array of {content, metadata}") end
  return py.split_batch(sp, pages)
end

return text
