-- The `excel` module: .xlsx workbooks (openpyxl). excel.new(), excel.open(reader) where the
-- reader has :read(n) (an fs.File), wb:write_to(writer) where the writer has :write(data).
local S, P, py = ...
local type, setmetatable, error, pcall, concat = type, setmetatable, error, pcall, table.concat
local mtype, gsub, char, utf8len, utf8char = math.type, string.gsub, string.char, utf8.len, utf8.char
local new_error = S.new_error

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end

local state = setmetatable({}, {__mode = "k"})
local function make(methods, name, st)
  local o = setmetatable({}, {__index = methods, __name = name, __metatable = false,
                             __newindex = function() error(name .. " is read-only", 2) end})
  state[o] = st
  return o
end
local function handle(self)
  local st = state[self]
  if not st or not st.book then error("expected a workbook (use wb:method)", 3) end
  return st
end
local function closed() return new_error("Internal", "workbook is closed") end

local WB, CURSOR = {}, {}

function WB.new_sheet(self, name)
  local st = handle(self)
  if st.closed then return nil, closed() end
  return py.new_sheet(st.book, name)
end
function WB.get_sheet_list(self)
  local st = handle(self)
  if st.closed then return nil, closed() end
  return py.sheet_list(st.book)
end
function WB.set_cell_value(self, sheet, cell, value)
  local st = handle(self)
  if st.closed then return closed() end
  local ok, err = py.set_cell(st.book, sheet, cell, value)
  if not ok then return err end
  return nil
end
function WB.get_rows(self, sheet)
  local st = handle(self)
  if st.closed then return nil, closed() end
  return py.get_rows(st.book, sheet)
end
function WB.rows(self, sheet)
  local st = handle(self)
  if st.closed then return nil, closed() end
  local c, err = py.open_cursor(st.book, sheet)
  if not c then return nil, err end
  return make(CURSOR, "excel.Cursor", {cursor = c, wb = st}), nil
end
function WB.write_to(self, writer)
  local st = handle(self)
  if st.closed then return closed() end
  if type(writer) ~= "table" or type(writer.write) ~= "function" then
    return new_error("Internal", "write_to needs a writer (an object with :write, e.g. an fs.File)")
  end
  local data, err = py.save(st.book)
  if not data then return err end
  local ok, n, werr = pcall(writer.write, writer, data)
  if not ok then return new_error("Internal", "write failed: " .. tostring(n)) end
  if n == nil and werr ~= nil then return werr end
  return nil
end
function WB.close(self)
  local st = handle(self)
  if not st.closed then st.closed = true; py.close(st.book) end
  return nil
end

function CURSOR.read(self, n)
  local st = state[self]
  if not st or not st.cursor then error("expected a cursor (use cursor:read)", 2) end
  if st.wb.closed or st.closed then return nil, new_error("Internal", "cursor is closed") end
  if n ~= nil and (mtype(n) ~= "integer" or n < 1) then return nil, new_error("Invalid", "batch size must be a positive integer") end
  if st.finished then return nil, nil end
  local batch, err = py.read_cursor(st.wb.book, st.cursor, n or 1)
  if err then return nil, err end
  if batch == nil then st.finished = true end
  return batch, nil
end
function CURSOR.close(self)
  local st = state[self]
  if st and not st.closed then st.closed = true; py.close_cursor(st.wb.book, st.cursor) end
  return true
end

local excel = {}

function excel.new()
  return make(WB, "excel.Workbook", {book = py.new()}), nil
end

function excel.open(reader)
  if type(reader) ~= "table" or type(reader.read) ~= "function" then
    return nil, new_error("Internal", "excel.open needs a reader (an object with :read, e.g. an fs.File)")
  end
  local parts = {}
  while true do
    local ok, chunk, err = pcall(reader.read, reader, 65536)
    if not ok then return nil, new_error("Internal", "read failed: " .. tostring(chunk)) end
    if err then return nil, err end
    if chunk == nil or chunk == "" then break end
    parts[#parts + 1] = chunk
  end
  local data = concat(parts)
  local h, err
  if utf8len(data) then h, err = py.open(data, false)
  else h, err = py.open((gsub(data, "[\128-\255]", LATIN1)), true) end
  if not h then return nil, err end
  return make(WB, "excel.Workbook", {book = h}), nil
end

return excel
