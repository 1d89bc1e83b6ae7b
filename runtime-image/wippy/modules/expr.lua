-- The `expr` module: expr-lang expressions. expr.eval(src, env?) and expr.compile(src, env?)
-- returning a Program with :run(env?). Parsed programs are cached by source (LRU of 1000).
local S, P, py = ...
local type, setmetatable = type, setmetatable
local new_error = S.new_error
local py_eval, py_check = py.eval, py.check

-- Program state lives here, not in the object: code cannot swap a program's source.
local source_of = setmetatable({}, {__mode = "k"})
local PROGRAM = {}
function PROGRAM.run(self, env)
  local src = source_of[self]
  if src == nil then return nil, new_error("Invalid", "run must be called on a compiled program (program:run)") end
  if env ~= nil and type(env) ~= "table" then return nil, new_error("Invalid", "environment must be a table") end
  return py_eval(src, env)
end
local PROGRAM_MT = {__index = PROGRAM, __name = "expr.Program", __metatable = false,
                    __newindex = function() error("expr.Program is read-only", 2) end}

local expr = {}

function expr.eval(src, env)
  if type(src) ~= "string" then return nil, new_error("Invalid", "expression must be a string") end
  if env ~= nil and type(env) ~= "table" then return nil, new_error("Invalid", "environment must be a table") end
  return py_eval(src, env)
end

function expr.compile(src, env)
  if type(src) ~= "string" then return nil, new_error("Invalid", "expression must be a string") end
  if env ~= nil and type(env) ~= "table" then return nil, new_error("Invalid", "environment must be a table") end
  local ok, err = py_check(src, env)
  if not ok then return nil, err end
  local program = setmetatable({}, PROGRAM_MT)
  source_of[program] = src
  return program, nil
end

return expr
