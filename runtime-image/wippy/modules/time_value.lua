-- Time values (what time.now() returns). Calendar methods are added here.
local S, P = ...
local setmetatable = setmetatable

local TIME = {}
TIME.__index = TIME
TIME.__name = "time"
TIME.__copy_keep = true
TIME.__eq = function(a, b) return a.ns == b.ns end
TIME.__lt = function(a, b) return a.ns < b.ns end
TIME.__le = function(a, b) return a.ns <= b.ns end

local function new_time(ns, offset) return setmetatable({ns = ns, off = offset or 0}, TIME) end
S.TIME, S.new_time = TIME, new_time

function TIME:unix() return self.ns // 1000000000 end
function TIME:unix_nano() return self.ns end
function TIME:sub(other) return setmetatable({ns = self.ns - other.ns}, S.DURATION) end
function TIME:add(d) return new_time(self.ns + S.duration_ns(d), self.off) end
function TIME:after(o) return self.ns > o.ns end
function TIME:before(o) return self.ns < o.ns end
function TIME:equal(o) return self.ns == o.ns end

function S.time_now() return new_time(P.wall_ns()) end
local tm = S.time_module
tm.now = S.time_now
tm.unix = function(sec, nsec) return new_time(sec * 1000000000 + (nsec or 0)) end
return nil
