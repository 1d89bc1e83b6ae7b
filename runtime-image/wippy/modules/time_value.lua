-- Time values (what time.now() returns), locations, Go layouts, and the calendar
-- functions of the `time` module (date, unix, parse, load_location, fixed_zone, constants).
--
-- A Time is a plain table {s = Unix seconds, n = nanoseconds 0..999999999, loc = Location}
-- with the TIME metatable, so it survives S.copy (values crossing processes) and compares
-- with ==, <, <=. Calendar math is pure Lua; named zones ask Python (zoneinfo) for the
-- offset at an instant, cached in the value (fields _o/_a).
local S, P, py = ...

local setmetatable, getmetatable, type, tostring, tonumber, error, select, rawget =
  setmetatable, getmetatable, type, tostring, tonumber, error, select, rawget
local byte, sub, find, lower, upper, format, rep = string.byte, string.sub, string.find, string.lower,
  string.upper, string.format, string.rep
local concat = table.concat
local mtype, tointeger, floor = math.type, math.tointeger, math.floor
local new_error = S.new_error

local NS = 1000000000
local ZERO_UNIX = -62135596800    -- Go's zero time, 0001-01-01 00:00:00 UTC

---------------------------------------------------------------------------
-- locations
---------------------------------------------------------------------------
-- A location is shared (time.utc is one object for every process of the engine), so it is
-- a read-only proxy: an empty table whose own metatable holds the data. S.copy keeps the
-- metatable (__copy_keep), so copies still are the same location.
local LOC = {}
LOC.__index = LOC
function LOC:string() return self.name end

local function loc_tostring(l) return l.name end
local function loc_eq(a, b) return a.name == b.name and a.off == b.off and a.zone == b.zone end
local function read_only() error("locations are read-only", 2) end

local function make_loc(data)
  setmetatable(data, LOC)
  local proxy = setmetatable({}, {
    __index = data, __newindex = read_only, __copy_keep = true, __name = "location", __location = true,
    __tostring = loc_tostring, __eq = loc_eq,
  })
  S.protected[proxy] = true   -- rawset/setmetatable from the sandbox refuse it too
  return proxy
end

local function fixed_loc(name, off) return make_loc({name = name, off = off, abbr = name}) end
local function zone_loc(name, key) return make_loc({name = name, zone = key}) end

local UTC = fixed_loc("UTC", 0)
local LOCAL
if py.local_is_utc then
  LOCAL = make_loc({name = "Local", off = 0, abbr = "UTC"})
else
  LOCAL = zone_loc("Local", "Local")
end
S.UTC, S.LOCAL = UTC, LOCAL

local function is_loc(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__location") == true
end
S.is_location = is_loc

---------------------------------------------------------------------------
-- calendar (proleptic Gregorian, days since 1970-01-01; H. Hinnant's algorithms)
---------------------------------------------------------------------------
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = y // 400
  local yoe = y - era * 400
  local mp = m > 2 and m - 3 or m + 9
  local doy = (153 * mp + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return y, m, d
end

local function is_leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end
local DAYS_IN = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
local function days_in(m, y)
  if m == 2 and is_leap(y) then return 29 end
  return DAYS_IN[m]
end

---------------------------------------------------------------------------
-- time values
---------------------------------------------------------------------------
local TIME = {}
TIME.__index = TIME
TIME.__name = "time"
TIME.__copy_keep = true
TIME.__eq = function(a, b) return a.s == b.s and a.n == b.n end
TIME.__lt = function(a, b) return a.s < b.s or (a.s == b.s and a.n < b.n) end
TIME.__le = function(a, b) return a.s < b.s or (a.s == b.s and a.n <= b.n) end

local function new_time(sec, nsec, loc)
  if nsec < 0 or nsec >= NS then
    sec = sec + nsec // NS
    nsec = nsec % NS
  end
  return setmetatable({s = sec, n = nsec, loc = loc or LOCAL}, TIME)
end
S.TIME, S.new_time = TIME, new_time

local function is_time(v) return getmetatable(v) == TIME end

-- offset (seconds east of UTC) and zone abbreviation in effect for t
local function zone_of(t)
  local o = t._o
  if o then return o, t._a end
  local loc = t.loc
  local a
  if loc.off then o, a = loc.off, loc.abbr
  else o, a = py.zone_offset(loc.zone, t.s) end
  t._o, t._a = o, a
  return o, a
end

-- calendar fields of t in its location
local function fields(t)
  local off = zone_of(t)
  local wall = t.s + off
  local days = wall // 86400
  local sod = wall - days * 86400
  local y, m, d = civil_from_days(days)
  return y, m, d, sod // 3600, sod % 3600 // 60, sod % 60, days
end

-- the instant of a wall-clock time in loc (fields may be out of range: Go normalizes)
local function from_wall(y, mo, d, h, mi, s, ns, loc)
  local m0 = mo - 1
  y = y + m0 // 12
  mo = m0 % 12 + 1
  ns = ns or 0
  s = s + ns // NS
  ns = ns % NS
  local wall = (days_from_civil(y, mo, 1) + d - 1) * 86400 + h * 3600 + mi * 60 + s
  local unix
  if loc.off then unix = wall - loc.off
  else unix = py.wall_to_unix(loc.zone, wall) end
  return new_time(unix, ns, loc)
end

local function bad(msg) return nil, new_error("Invalid", msg, false) end

local function int_arg(v)
  if type(v) ~= "number" then return nil end
  if mtype(v) == "integer" then return v end
  if v ~= v or v == math.huge or v == -math.huge then return nil end
  return tointeger(floor(v))
end

---------------------------------------------------------------------------
-- Go layouts
---------------------------------------------------------------------------
local SHORT_MONTHS = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
local LONG_MONTHS = {"January", "February", "March", "April", "May", "June", "July", "August",
                     "September", "October", "November", "December"}
local SHORT_DAYS = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
local LONG_DAYS = {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

local function starts_lower(layout, i)
  local c = byte(layout, i)
  return c ~= nil and c >= 97 and c <= 122
end

local function is_digit_at(s, i)
  local c = byte(s, i)
  return c ~= nil and c >= 48 and c <= 57
end

-- Find the next layout element at or after i: returns start, element, end (exclusive).
-- Elements: the Go reference time pieces; fractions are {frac = "0"|"9", digits = n, sep = c}.
local ZONES_DASH = {"-070000", "-07:00:00", "-0700", "-07:00", "-07"}
local ZONES_Z = {"Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07"}
local function next_std(layout, i)
  local len = #layout
  for j = i, len do
    local c = byte(layout, j)
    if c == 74 then -- J
      if sub(layout, j, j + 2) == "Jan" then
        if sub(layout, j, j + 6) == "January" then return j, "January", j + 7 end
        if not starts_lower(layout, j + 3) then return j, "Jan", j + 3 end
      end
    elseif c == 77 then -- M
      local three = sub(layout, j, j + 2)
      if three == "Mon" then
        if sub(layout, j, j + 5) == "Monday" then return j, "Monday", j + 6 end
        if not starts_lower(layout, j + 3) then return j, "Mon", j + 3 end
      end
      if three == "MST" then return j, "MST", j + 3 end
    elseif c == 48 then -- 0
      local c2 = byte(layout, j + 1)
      if c2 and c2 >= 49 and c2 <= 54 then return j, sub(layout, j, j + 1), j + 2 end
      if c2 == 48 and byte(layout, j + 2) == 50 then return j, "002", j + 3 end
    elseif c == 49 then -- 1
      if byte(layout, j + 1) == 53 then return j, "15", j + 2 end
      return j, "1", j + 1
    elseif c == 50 then -- 2
      if sub(layout, j, j + 3) == "2006" then return j, "2006", j + 4 end
      return j, "2", j + 1
    elseif c == 95 then -- _
      if byte(layout, j + 1) == 50 then
        if sub(layout, j + 1, j + 4) == "2006" then return j + 1, "2006", j + 5 end  -- literal _ then year
        return j, "_2", j + 2
      end
      if byte(layout, j + 1) == 95 and byte(layout, j + 2) == 50 then return j, "__2", j + 3 end
    elseif c == 51 then return j, "3", j + 1
    elseif c == 52 then return j, "4", j + 1
    elseif c == 53 then return j, "5", j + 1
    elseif c == 80 then -- P
      if byte(layout, j + 1) == 77 then return j, "PM", j + 2 end
    elseif c == 112 then -- p
      if byte(layout, j + 1) == 109 then return j, "pm", j + 2 end
    elseif c == 45 or c == 90 then -- - Z
      for _, z in ipairs(c == 45 and ZONES_DASH or ZONES_Z) do
        if sub(layout, j, j + #z - 1) == z then return j, z, j + #z end
      end
    elseif c == 46 or c == 44 then -- . ,
      local d = byte(layout, j + 1)
      if d == 48 or d == 57 then
        local k = j + 1
        while byte(layout, k) == d do k = k + 1 end
        if not is_digit_at(layout, k) then
          return j, {frac = d == 48 and "0" or "9", digits = k - j - 1, sep = sub(layout, j, j),
                     text = sub(layout, j, k - 1)}, k
        end
      end
    end
  end
  return nil
end

-- layout -> list of {lit = string} / {std = element}; cached
local LAYOUTS, nlayouts = {}, 0
local function compile_layout(layout)
  local c = LAYOUTS[layout]
  if c then return c end
  c = {}
  local i = 1
  while true do
    local s, std, e = next_std(layout, i)
    if not s then
      if i <= #layout then c[#c + 1] = {lit = sub(layout, i)} end
      break
    end
    if s > i then c[#c + 1] = {lit = sub(layout, i, s - 1)} end
    c[#c + 1] = {std = std}
    i = e
  end
  if nlayouts > 256 then LAYOUTS, nlayouts = {}, 0 end
  nlayouts = nlayouts + 1
  LAYOUTS[layout] = c
  return c
end

local function pad(v, width)
  if v < 0 then return "-" .. pad(-v, width) end
  local s = tostring(v)
  if #s < width then s = rep("0", width - #s) .. s end
  return s
end

local ISO_Z = {Z070000 = true, ["Z07:00:00"] = true, Z0700 = true, ["Z07:00"] = true, Z07 = true}

local function format_zone(std, off)
  if off == 0 and ISO_Z[std] then return "Z" end
  local sign = "+"
  local a = off
  if a < 0 then sign, a = "-", -a end
  local zone = a // 60
  local out = sign .. pad(zone // 60, 2)
  local colon = find(std, ":", 1, true) ~= nil
  if std == "-07" or std == "Z07" then return out end
  if colon then out = out .. ":" end
  out = out .. pad(zone % 60, 2)
  if std == "-070000" or std == "Z070000" or std == "-07:00:00" or std == "Z07:00:00" then
    if colon then out = out .. ":" end
    out = out .. pad(a % 60, 2)
  end
  return out
end

local function format_time(t, layout)
  local chunks = compile_layout(layout)
  local y, mo, d, h, mi, se, days = fields(t)
  local off, abbr = zone_of(t)
  local out = {}
  for i = 1, #chunks do
    local ch = chunks[i]
    local std = ch.std
    local v
    if not std then v = ch.lit
    elseif type(std) == "table" then
      local n = t.n
      if std.frac == "9" and (std.digits == 0 or n == 0) then v = ""
      else
        local digits = sub(pad(n, 9), 1, std.digits)
        if std.frac == "9" then digits = digits:gsub("0+$", "") end
        v = digits == "" and "" or (std.sep .. digits)
      end
    elseif std == "2006" then v = pad(y, 4)
    elseif std == "06" then v = pad(y % 100, 2)
    elseif std == "01" then v = pad(mo, 2)
    elseif std == "1" then v = tostring(mo)
    elseif std == "Jan" then v = SHORT_MONTHS[mo]
    elseif std == "January" then v = LONG_MONTHS[mo]
    elseif std == "02" then v = pad(d, 2)
    elseif std == "2" then v = tostring(d)
    elseif std == "_2" then v = d < 10 and (" " .. d) or tostring(d)
    elseif std == "Mon" then v = SHORT_DAYS[(days + 4) % 7 + 1]
    elseif std == "Monday" then v = LONG_DAYS[(days + 4) % 7 + 1]
    elseif std == "15" then v = pad(h, 2)
    elseif std == "3" or std == "03" then
      local hr = h % 12
      if hr == 0 then hr = 12 end
      v = std == "03" and pad(hr, 2) or tostring(hr)
    elseif std == "04" then v = pad(mi, 2)
    elseif std == "4" then v = tostring(mi)
    elseif std == "05" then v = pad(se, 2)
    elseif std == "5" then v = tostring(se)
    elseif std == "PM" then v = h >= 12 and "PM" or "AM"
    elseif std == "pm" then v = h >= 12 and "pm" or "am"
    elseif std == "MST" then
      if abbr and abbr ~= "" then v = abbr else v = format_zone("-0700", off) end
    elseif std == "002" or std == "__2" then
      local yd = days - days_from_civil(y, 1, 1) + 1
      if std == "002" then v = pad(yd, 3)
      else v = (yd < 10 and "  " or yd < 100 and " " or "") .. yd end
    else
      v = format_zone(std, off)
    end
    out[i] = v
  end
  return concat(out)
end

-- Go's time.Parse / ParseInLocation
local function lookup_name(names, value)
  for i = 1, #names do
    local nm = names[i]
    if #value >= #nm and lower(sub(value, 1, #nm)) == lower(nm) then return i, sub(value, #nm + 1) end
  end
  return nil
end

local function getnum(s, fixed)
  if not is_digit_at(s, 1) then return nil end
  if not is_digit_at(s, 2) then
    if fixed then return nil end
    return byte(s, 1) - 48, sub(s, 2)
  end
  return (byte(s, 1) - 48) * 10 + byte(s, 2) - 48, sub(s, 3)
end

local function getnum3(s, fixed)
  local n, i = 0, 1
  while i <= 3 and is_digit_at(s, i) do n = n * 10 + byte(s, i) - 48; i = i + 1 end
  if i == 1 or (fixed and i ~= 4) then return nil end
  return n, sub(s, i)
end

local function cutspace(s)
  local i = 1
  while byte(s, i) == 32 do i = i + 1 end
  return sub(s, i)
end

local function skip(value, prefix)
  while #prefix > 0 do
    if byte(prefix, 1) == 32 then
      if #value > 0 and byte(value, 1) ~= 32 then return nil end
      prefix = cutspace(prefix)
      value = cutspace(value)
    else
      if #value == 0 or byte(value, 1) ~= byte(prefix, 1) then return nil end
      prefix = sub(prefix, 2)
      value = sub(value, 2)
    end
  end
  return value
end

local function parse_signed_offset(value)
  local sign = byte(value, 1)
  if sign ~= 45 and sign ~= 43 then return 0 end
  local i, x = 2, 0
  while is_digit_at(value, i) do x = x * 10 + byte(value, i) - 48; i = i + 1 end
  if i == 2 or x > 12 then return 0 end
  return i - 1
end

local function parse_time_zone(value)
  if #value < 3 then return nil end
  local four = sub(value, 1, 4)
  if four == "ChST" or four == "MeST" then return 4 end
  if sub(value, 1, 3) == "GMT" then
    if #value == 3 then return 3 end
    return 3 + parse_signed_offset(sub(value, 4))
  end
  local c = byte(value, 1)
  if c == 43 or c == 45 then
    local n = parse_signed_offset(value)
    if n > 0 then return n end
    return nil
  end
  local nupper = 0
  while nupper < 6 do
    local u = byte(value, nupper + 1)
    if not u or u < 65 or u > 90 then break end
    nupper = nupper + 1
  end
  if nupper == 5 then if byte(value, 5) == 84 then return 5 end return nil end
  if nupper == 4 then if byte(value, 4) == 84 or four == "WITA" then return 4 end return nil end
  if nupper == 3 then return 3 end
  return nil
end

local function parse_nanos(value, nbytes)
  local c = byte(value, 1)
  if c ~= 46 and c ~= 44 then return nil end
  if nbytes > 10 then nbytes = 10 end
  local digits = sub(value, 2, nbytes)
  if not find(digits, "^%d+$") then return nil end
  local ns = tonumber(digits)
  for _ = 1, 10 - nbytes do ns = ns * 10 end
  return ns
end

local function quote(s) return '"' .. s .. '"' end

local function parse_time(layout, value, default_loc)
  local alayout, avalue = layout, value
  local function perr(elem, rest, msg)
    if msg then return nil, "parsing time " .. quote(avalue) .. msg end
    return nil, "parsing time " .. quote(avalue) .. " as " .. quote(alayout) .. ": cannot parse " ..
      quote(rest) .. " as " .. quote(elem)
  end
  local chunks = compile_layout(layout)
  local year, month, day, yday, hour, min, sec, nsec = 0, -1, -1, -1, 0, 0, 0, 0
  local z, zone_offset, zone_name = nil, nil, nil
  local pm_set, am_set = false, false
  for ci = 1, #chunks do
    local ch = chunks[ci]
    if ch.lit then
      local rest = skip(value, ch.lit)
      if not rest then return perr(ch.lit, value) end
      value = rest
    else
      local std = ch.std
      local hold = value
      local ok, range = true, nil
      local stdstr = type(std) == "table" and std.text or std
      if type(std) == "table" then
        if std.frac == "0" then
          local ndigit = 1 + std.digits
          if #value < ndigit then ok = false
          else
            local ns = parse_nanos(value, ndigit)
            if not ns then ok = false else nsec = ns; value = sub(value, ndigit + 1) end
          end
        else
          local c1 = byte(value, 1)
          if #value >= 2 and (c1 == 46 or c1 == 44) and is_digit_at(value, 2) then
            local i = 1
            while is_digit_at(value, i + 1) do i = i + 1 end
            local ns = parse_nanos(value, i)
            if not ns then ok = false else nsec = ns; value = sub(value, i + 1) end
          end
        end
      elseif std == "2006" then
        if #value < 4 or not find(value, "^%d%d%d%d") then ok = false
        else year = tonumber(sub(value, 1, 4)); value = sub(value, 5) end
      elseif std == "06" then
        if #value < 2 or not find(value, "^%d%d") then ok = false
        else
          year = tonumber(sub(value, 1, 2))
          year = year >= 69 and year + 1900 or year + 2000
          value = sub(value, 3)
        end
      elseif std == "Jan" or std == "January" then
        local m, rest = lookup_name(std == "Jan" and SHORT_MONTHS or LONG_MONTHS, value)
        if not m then ok = false else month = m; value = rest end
      elseif std == "Mon" or std == "Monday" then
        local wd, rest = lookup_name(std == "Mon" and SHORT_DAYS or LONG_DAYS, value)
        if not wd then ok = false else value = rest end
      elseif std == "1" or std == "01" then
        local m, rest = getnum(value, std == "01")
        if not m then ok = false else
          month, value = m, rest
          if month <= 0 or month > 12 then range = "month" end
        end
      elseif std == "2" or std == "_2" or std == "02" then
        if std == "_2" and byte(value, 1) == 32 then value = sub(value, 2) end
        local d, rest = getnum(value, std == "02")
        if not d then ok = false else day, value = d, rest end
      elseif std == "__2" or std == "002" then
        for _ = 1, 2 do if std == "__2" and byte(value, 1) == 32 then value = sub(value, 2) end end
        local d, rest = getnum3(value, std == "002")
        if not d then ok = false else yday, value = d, rest end
      elseif std == "15" then
        local hh, rest = getnum(value, false)
        if not hh then ok = false else
          hour, value = hh, rest
          if hour >= 24 then range = "hour" end
        end
      elseif std == "3" or std == "03" then
        local hh, rest = getnum(value, std == "03")
        if not hh then ok = false else
          hour, value = hh, rest
          if hour > 12 then range = "hour" end
        end
      elseif std == "4" or std == "04" then
        local mm, rest = getnum(value, std == "04")
        if not mm then ok = false else
          min, value = mm, rest
          if min >= 60 then range = "minute" end
        end
      elseif std == "5" or std == "05" then
        local ss, rest = getnum(value, std == "05")
        if not ss then ok = false else
          sec, value = ss, rest
          if sec >= 60 then range = "second"
          else
            -- a fraction in the value that the layout does not mention is accepted
            local c1 = byte(value, 1)
            if #value >= 2 and (c1 == 46 or c1 == 44) and is_digit_at(value, 2) then
              local nxt = chunks[ci + 1]
              if not (nxt and type(nxt.std) == "table") then
                local n = 2
                while is_digit_at(value, n + 1) do n = n + 1 end
                local ns = parse_nanos(value, n)
                if not ns then ok = false else nsec = ns; value = sub(value, n + 1) end
              end
            end
          end
        end
      elseif std == "PM" or std == "pm" then
        if #value < 2 then ok = false
        else
          local p = sub(value, 1, 2)
          value = sub(value, 3)
          if std == "PM" then
            if p == "PM" then pm_set = true elseif p == "AM" then am_set = true else ok = false end
          else
            if p == "pm" then pm_set = true elseif p == "am" then am_set = true else ok = false end
          end
        end
      elseif std == "MST" then
        if sub(value, 1, 3) == "UTC" then z = UTC; value = sub(value, 4)
        else
          local n = parse_time_zone(value)
          if not n then ok = false else zone_name = sub(value, 1, n); value = sub(value, n + 1) end
        end
      else -- numeric zones; the Z forms also accept "Z"
        if ISO_Z[std] and byte(value, 1) == 90 then
          value = sub(value, 2); z = UTC
        else
          local sign, hh, mm, ss
          local base = sub(std, 2)
          if base == "07:00" then
            if #value < 6 or byte(value, 4) ~= 58 then ok = false
            else sign, hh, mm, ss, value = sub(value, 1, 1), sub(value, 2, 3), sub(value, 5, 6), "00", sub(value, 7) end
          elseif base == "07" then
            if #value < 3 then ok = false
            else sign, hh, mm, ss, value = sub(value, 1, 1), sub(value, 2, 3), "00", "00", sub(value, 4) end
          elseif base == "07:00:00" then
            if #value < 9 or byte(value, 4) ~= 58 or byte(value, 7) ~= 58 then ok = false
            else sign, hh, mm, ss, value = sub(value, 1, 1), sub(value, 2, 3), sub(value, 5, 6), sub(value, 8, 9), sub(value, 10) end
          elseif base == "070000" then
            if #value < 7 then ok = false
            else sign, hh, mm, ss, value = sub(value, 1, 1), sub(value, 2, 3), sub(value, 4, 5), sub(value, 6, 7), sub(value, 8) end
          else
            if #value < 5 then ok = false
            else sign, hh, mm, ss, value = sub(value, 1, 1), sub(value, 2, 3), sub(value, 4, 5), "00", sub(value, 6) end
          end
          if ok then
            local hr, mn, sc = getnum(hh, true), getnum(mm, true), getnum(ss, true)
            if not (hr and mn and sc) then ok = false
            else
              if hr > 24 then range = "time zone offset hour" end
              if mn > 60 then range = "time zone offset minute" end
              if sc > 60 then range = "time zone offset second" end
              zone_offset = (hr * 60 + mn) * 60 + sc
              if sign == "-" then zone_offset = -zone_offset
              elseif sign ~= "+" then ok = false end
            end
          end
        end
      end
      if range then return perr(stdstr, value, ": " .. range .. " out of range") end
      if not ok then return perr(stdstr, hold) end
    end
  end
  if #value > 0 then
    return nil, "parsing time " .. quote(avalue) .. ": extra text: " .. quote(value)
  end
  if pm_set and hour < 12 then hour = hour + 12 elseif am_set and hour == 12 then hour = 0 end
  if yday >= 0 then
    local m, d
    if is_leap(year) then
      if yday == 31 + 29 then m, d = 2, 29
      elseif yday > 31 + 29 then yday = yday - 1 end
    end
    if yday < 1 or yday > 365 then return nil, "parsing time " .. quote(avalue) .. ": day-of-year out of range" end
    if not m then
      local before = 0
      m = 1
      while before + DAYS_IN[m] < yday do before = before + DAYS_IN[m]; m = m + 1 end
      d = yday - before
    end
    if month >= 0 and month ~= m then return nil, "parsing time " .. quote(avalue) .. ": day-of-year does not match month" end
    month = m
    if day >= 0 and day ~= d then return nil, "parsing time " .. quote(avalue) .. ": day-of-year does not match day" end
    day = d
  else
    if month < 0 then month = 1 end
    if day < 0 then day = 1 end
  end
  if day < 1 or day > days_in(month, year) then
    return nil, "parsing time " .. quote(avalue) .. ": day out of range"
  end
  if z then return from_wall(year, month, day, hour, min, sec, nsec, z) end
  if zone_offset then
    local t = from_wall(year, month, day, hour, min, sec, nsec, UTC)
    t = new_time(t.s - zone_offset, t.n, default_loc)
    local off, abbr = zone_of(t)
    if off == zone_offset and (zone_name == nil or abbr == zone_name) then return t end
    return new_time(t.s, t.n, fixed_loc(zone_name or "", zone_offset))
  end
  if zone_name then
    local t = from_wall(year, month, day, hour, min, sec, nsec, UTC)
    -- the default location's zone of that name: in effect at that time, else at another
    -- time of the year (e.g. "PDT" written on a winter date)
    for _, shift in ipairs({0, -182 * 86400, 182 * 86400}) do
      local off, abbr = zone_of(new_time(t.s + shift, 0, default_loc))
      if abbr == zone_name then
        local r = new_time(t.s - off, t.n, default_loc)
        if shift ~= 0 or zone_of(r) == off then
          if shift ~= 0 then r = new_time(r.s, r.n, fixed_loc(zone_name, off)) end
          return r
        end
      end
    end
    local offset = 0
    if #zone_name > 3 and sub(zone_name, 1, 3) == "GMT" then offset = (tonumber(sub(zone_name, 4)) or 0) * 3600 end
    -- as Go: the wall clock is read as UTC and the made-up zone only labels it
    return new_time(t.s, t.n, fixed_loc(zone_name, offset))
  end
  return from_wall(year, month, day, hour, min, sec, nsec, default_loc)
end

---------------------------------------------------------------------------
-- Time methods
---------------------------------------------------------------------------
local DURATION = S.DURATION
local function new_duration(ns) return setmetatable({ns = ns}, DURATION) end

local MAX_DUR, MIN_DUR = math.maxinteger, math.mininteger

local function dur_arg(d)
  local ns, err = S.duration_ns(d)
  if not ns then return nil, err end
  return ns
end

function TIME:add(d)
  if not is_time(self) then return bad("time expected") end
  local ns, err = dur_arg(d)
  if not ns then return nil, err end
  return new_time(self.s + ns // NS, self.n + ns % NS, self.loc)
end

function TIME:sub(other)
  if not is_time(self) or not is_time(other) then return bad("time expected") end
  local ds = self.s - other.s
  if ds > 9223372035 then return new_duration(MAX_DUR) end
  if ds < -9223372035 then return new_duration(MIN_DUR) end
  local total = ds * NS + (self.n - other.n)
  return new_duration(total)
end

function TIME:add_date(years, months, days)
  if not is_time(self) then return bad("time expected") end
  years, months, days = int_arg(years or 0), int_arg(months or 0), int_arg(days or 0)
  if not (years and months and days) then return bad("add_date expects integers") end
  local y, mo, d, h, mi, se = fields(self)
  return from_wall(y + years, mo + months, d + days, h, mi, se, self.n, self.loc)
end

local function cmp_args(a, b)
  if not is_time(a) or not is_time(b) then return false end
  return true
end
function TIME:after(o)
  if not cmp_args(self, o) then return bad("time expected") end
  return self.s > o.s or (self.s == o.s and self.n > o.n)
end
function TIME:before(o)
  if not cmp_args(self, o) then return bad("time expected") end
  return self.s < o.s or (self.s == o.s and self.n < o.n)
end
function TIME:equal(o)
  if not cmp_args(self, o) then return bad("time expected") end
  return self.s == o.s and self.n == o.n
end
function TIME:compare(o)
  if not cmp_args(self, o) then return bad("time expected") end
  if self.s ~= o.s then return self.s < o.s and -1 or 1 end
  if self.n ~= o.n then return self.n < o.n and -1 or 1 end
  return 0
end

function TIME:format(layout)
  if not is_time(self) then return bad("time expected") end
  if type(layout) ~= "string" then return bad("layout must be a string") end
  return format_time(self, layout)
end

local RFC3339 = "2006-01-02T15:04:05Z07:00"
local RFC3339NANO = "2006-01-02T15:04:05.999999999Z07:00"
function TIME:format_rfc3339() return format_time(self, RFC3339) end

function TIME:unix() return self.s end
function TIME:unix_nano() return self.s * NS + self.n end
function TIME:unix_milli() return self.s * 1000 + self.n // 1000000 end
function TIME:date() local y, m, d = fields(self) return y, m, d end
function TIME:clock() local _, _, _, h, mi, s = fields(self) return h, mi, s end
function TIME:year() return (fields(self)) end
function TIME:month() return (select(2, fields(self))) end
function TIME:day() return (select(3, fields(self))) end
function TIME:hour() return (select(4, fields(self))) end
function TIME:minute() return (select(5, fields(self))) end
function TIME:second() return (select(6, fields(self))) end
function TIME:nanosecond() return self.n end
function TIME:weekday() return (select(7, fields(self)) + 4) % 7 end
function TIME:year_day()
  local y, _, _, _, _, _, days = fields(self)
  return days - days_from_civil(y, 1, 1) + 1
end
function TIME:is_zero() return self.s == ZERO_UNIX and self.n == 0 end
function TIME:location() return self.loc end
function TIME:zone() local o, a = zone_of(self) return a, o end   -- Go's Zone(): name, offset
function TIME:utc() return new_time(self.s, self.n, UTC) end
function TIME:in_local() return new_time(self.s, self.n, LOCAL) end
TIME["local"] = TIME.in_local
function TIME:in_location(loc)
  if not is_loc(loc) then return bad("location expected") end
  return new_time(self.s, self.n, loc)
end
TIME["in"] = TIME.in_location

-- Round and Truncate work on the time since Go's zero time (year 1), as Go does
local function time_mod(t, d)
  if NS % d == 0 then return t.n % d end
  if d % NS == 0 then
    local ds = d // NS
    return ((t.s - ZERO_UNIX) % ds) * NS + t.n
  end
  return py.time_mod(t.s, t.n, d)
end

function TIME:truncate(d)
  local ns, err = dur_arg(d)
  if not ns then return nil, err end
  if ns <= 0 then return new_time(self.s, self.n, self.loc) end
  local r = time_mod(self, ns)
  return new_time(self.s - r // NS, self.n - r % NS, self.loc)
end

function TIME:round(d)
  local ns, err = dur_arg(d)
  if not ns then return nil, err end
  if ns <= 0 then return new_time(self.s, self.n, self.loc) end
  local r = time_mod(self, ns)
  if r + r < ns then return new_time(self.s - r // NS, self.n - r % NS, self.loc) end
  local up = ns - r
  return new_time(self.s + up // NS, self.n + up % NS, self.loc)
end

TIME.__tostring = function(t) return format_time(t, "2006-01-02 15:04:05.999999999 -0700 MST") end
TIME.string = TIME.__tostring

---------------------------------------------------------------------------
-- functions on the `time` module
---------------------------------------------------------------------------
function S.time_now()
  local ns = P.wall_ns()
  return setmetatable({s = ns // NS, n = ns % NS, loc = LOCAL}, TIME)
end

S.format_time, S.parse_time = format_time, parse_time

-- For converters (Lua <-> Python, payloads between engines): a Time as plain parts and back.
-- parts: Unix seconds, nanoseconds, location name, fixed offset (nil for named zones).
function S.time_parts(t)
  local loc = t.loc
  return t.s, t.n, loc.name, loc.off
end

function S.time_from_parts(sec, nsec, name, off)
  local loc
  if name == "UTC" then loc = UTC
  elseif name == "Local" or name == nil then loc = LOCAL
  elseif off ~= nil then loc = fixed_loc(name, off)
  else
    local ok, key = pcall(py.load_location, name)
    loc = (ok and key) and zone_loc(name, key) or UTC
  end
  return new_time(sec, nsec or 0, loc)
end

local tm = S.time_module
if tm then
  tm.now = S.time_now

  function tm.unix(sec, nsec)
    if type(sec) ~= "number" then return bad("seconds must be a number") end
    if nsec ~= nil and type(nsec) ~= "number" then return bad("nanoseconds must be a number") end
    local s = int_arg(sec)
    if not s then return bad("seconds must be finite") end
    local extra = 0
    if mtype(sec) == "float" then extra = floor((sec - s) * NS + 0.5) end
    local n = int_arg(nsec or 0)
    if not n then return bad("nanoseconds must be finite") end
    return new_time(s, n + extra, LOCAL)
  end

  function tm.date(y, mo, d, h, mi, s, ns, loc)
    local args = {y, mo, d, h or 0, mi or 0, s or 0, ns or 0}
    for i = 1, 7 do
      local v = int_arg(args[i])
      if v == nil then return bad("date expects integer arguments (argument " .. i .. ")") end
      args[i] = v
    end
    if loc == nil then loc = LOCAL
    elseif not is_loc(loc) then return bad("location expected") end
    return from_wall(args[1], args[2], args[3], args[4], args[5], args[6], args[7], loc)
  end

  function tm.parse(layout, value, loc)
    if type(layout) ~= "string" then return bad("layout must be a string") end
    if type(value) ~= "string" then return bad("value must be a string") end
    if loc == nil then loc = LOCAL
    elseif not is_loc(loc) then return bad("location expected") end
    local t, msg = parse_time(layout, value, loc)
    if not t then return nil, new_error("Invalid", msg, false) end
    return t
  end

  function tm.load_location(name)
    if type(name) ~= "string" then return bad("location name must be a string") end
    if name == "" then return bad("empty location name") end
    if name == "UTC" then return UTC end
    if name == "Local" then return LOCAL end
    if not utf8.len(name) then return nil, new_error("NotFound", "unknown time zone", false) end
    local key, err = py.load_location(name)
    if not key then return nil, err end
    return zone_loc(name, key)
  end

  function tm.fixed_zone(name, offset)
    if type(name) ~= "string" then return bad("zone name must be a string") end
    local off = int_arg(offset)
    if not off then return bad("offset must be a number of seconds") end
    return fixed_loc(name, off)
  end

  tm.utc, tm.localtz = UTC, LOCAL

  local layouts = {
    LAYOUT = "01/02 03:04:05PM '06 -0700",
    ANSIC = "Mon Jan _2 15:04:05 2006",
    UNIX_DATE = "Mon Jan _2 15:04:05 MST 2006",
    RUBY_DATE = "Mon Jan 02 15:04:05 -0700 2006",
    RFC822 = "02 Jan 06 15:04 MST",
    RFC822Z = "02 Jan 06 15:04 -0700",
    RFC850 = "Monday, 02-Jan-06 15:04:05 MST",
    RFC1123 = "Mon, 02 Jan 2006 15:04:05 MST",
    RFC1123Z = "Mon, 02 Jan 2006 15:04:05 -0700",
    RFC3339 = RFC3339,
    RFC3339NANO = RFC3339NANO,
    KITCHEN = "3:04PM",
    STAMP = "Jan _2 15:04:05",
    STAMP_MILLI = "Jan _2 15:04:05.000",
    STAMP_MICRO = "Jan _2 15:04:05.000000",
    STAMP_NANO = "Jan _2 15:04:05.000000000",
    DATE_TIME = "2006-01-02 15:04:05",
    DATE_ONLY = "2006-01-02",
    TIME_ONLY = "15:04:05",
  }
  for k, v in pairs(layouts) do tm[k] = v end
  for i, name in ipairs(LONG_MONTHS) do tm[upper(name)] = i end
  for i, name in ipairs(LONG_DAYS) do tm[upper(name)] = i - 1 end
end

return nil
