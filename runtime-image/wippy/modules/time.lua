-- The `time` module: sleeping, timers, tickers and durations on the engine's scheduler.
-- Time values and their calendar methods live in time_value.lua.
local S, P = ...

local type, error, tostring, setmetatable, floor = type, error, tostring, setmetatable, math.floor
local new_error = S.new_error

local NS, US, MS, SEC, MIN, HOUR = 1, 1000, 1000000, 1000000000, 60000000000, 3600000000000
local UNITS = {ns = NS, us = US, ["µs"] = US, ["μs"] = US, ms = MS, s = SEC, m = MIN, h = HOUR}

-- Go duration string -> integer nanoseconds, or nil, message
local function parse_go_duration(s)
  local orig = s
  local sign = 1
  local c = s:sub(1, 1)
  if c == "-" or c == "+" then
    if c == "-" then sign = -1 end
    s = s:sub(2)
  end
  if s == "0" then return 0 end
  if s == "" then return nil, "invalid duration " .. string.format("%q", orig) end
  local total = 0
  while s ~= "" do
    local num, unit, rest = s:match("^([%d%.]+)([^%d%.]+)(.*)$")
    if not num then return nil, "invalid duration " .. string.format("%q", orig) end
    local n = tonumber(num)
    local mult = UNITS[unit]
    if not n or not mult then return nil, "invalid duration " .. string.format("%q", orig) end
    total = total + n * mult
    s = rest
  end
  return floor(sign * total + 0.5)
end

local DURATION = {}
DURATION.__index = DURATION
DURATION.__name = "duration"
DURATION.__copy_keep = true
local function new_duration(ns) return setmetatable({ns = ns}, DURATION) end
function DURATION:nanoseconds() return self.ns end
function DURATION:microseconds() return self.ns // US end
function DURATION:milliseconds() return self.ns // MS end
function DURATION:seconds() return self.ns / SEC end
function DURATION:minutes() return self.ns / MIN end
function DURATION:hours() return self.ns / HOUR end
DURATION.__tostring = function(d) return P.format_duration(d.ns) end
DURATION.__eq = function(a, b) return a.ns == b.ns end
DURATION.__lt = function(a, b) return a.ns < b.ns end
DURATION.__le = function(a, b) return a.ns <= b.ns end
S.DURATION = DURATION

-- any accepted duration form -> integer nanoseconds, or nil, error
local function to_ns(v)
  local t = type(v)
  if t == "number" then return floor(v) end
  if t == "string" then
    local ns, err = parse_go_duration(v)
    if not ns then return nil, new_error("Invalid", err) end
    return ns
  end
  if t == "table" and getmetatable(v) == DURATION then return v.ns end
  return nil, new_error("Invalid", "invalid duration: " .. tostring(v))
end
S.duration_ns = to_ns

-- durations used by other modules (timeouts), in seconds; raises on bad input
function S.duration_seconds(v)
  local ns, err = to_ns(v)
  if not ns then error(tostring(err), 3) end
  return ns / SEC
end

local function positive(d, what)
  local ns, err = to_ns(d)
  if not ns then return nil, err end
  if ns <= 0 then return nil, new_error("Invalid", what .. " duration must be positive") end
  return ns / SEC
end

local time = {
  NANOSECOND = NS, MICROSECOND = US, MILLISECOND = MS, SECOND = SEC, MINUTE = MIN, HOUR = HOUR,
}

function time.sleep(d)
  local secs, err = to_ns(d)
  if not secs then return nil, err end
  secs = secs / SEC
  local task = S.current()
  if not task then error("time.sleep outside of a task", 2) end
  if secs <= 0 then secs = 0 end
  task.timer = S.add_timer(secs, function() task.timer = nil; S.wake(task, true) end)
  S.suspend()
  return true
end

function time.parse_duration(v)
  local ns, err = to_ns(v)
  if not ns then return nil, err end
  return new_duration(ns)
end

function time.after(d)
  local secs, err = positive(d, "after")
  if not secs then return nil, err end
  local ch = S.new_channel(1)
  S.add_timer(secs, function() S.channel_push(ch, S.time_now()) end)
  return ch
end

local TIMER = {}
TIMER.__index = TIMER
function TIMER:response() return self.ch end
TIMER.channel = TIMER.response
function TIMER:stop()
  if self.fired or self.t.cancelled then return false end
  self.t.cancelled = true
  return true
end
function TIMER:reset(d)
  local secs, err = positive(d, "timer")
  if not secs then return nil, err end
  local active = not self.fired and not self.t.cancelled
  self.t.cancelled = true
  self.fired = false
  self.t = S.add_timer(secs, function() self.fired = true; S.channel_push(self.ch, S.time_now()) end)
  return active
end

function time.timer(d)
  local secs, err = positive(d, "timer")
  if not secs then return nil, err end
  local tm = setmetatable({ch = S.new_channel(1), fired = false}, TIMER)
  tm.t = S.add_timer(secs, function() tm.fired = true; S.channel_push(tm.ch, S.time_now()) end)
  return tm
end

local TICKER = {}
TICKER.__index = TICKER
function TICKER:response() return self.ch end
TICKER.channel = TICKER.response
function TICKER:stop() self.stopped = true; if self.t then self.t.cancelled = true end; return true end

function time.ticker(d)
  local secs, err = positive(d, "ticker")
  if not secs then return nil, err end
  local tk = setmetatable({ch = S.new_channel(1), stopped = false}, TICKER)
  local function tick()
    if tk.stopped then return end
    -- like Go, a slow reader drops ticks instead of queueing them
    if tk.ch:len() == 0 then S.channel_push(tk.ch, S.time_now()) end
    tk.t = S.add_timer(secs, tick)
  end
  tk.t = S.add_timer(secs, tick)
  return tk
end

S.time_module = time
return time
