-- Messages to processes of other nodes, in the engine. A remote process.send copies its value
-- (as a local send does, in the sending task) and queues it; at the end of the scheduler's pass
-- the queue is encoded as MessagePack (the mesh's encoding, cluster/codec.py; errors as
-- extension 1) in the scheduler's own thread, and handed to Python as one byte string per
-- destination node and host (`P.send_wire`): one crossing per pass and host, not one per
-- message, and no Python object built for a message on either node; the receiving engine
-- decodes the string itself (S.deliver_wire). Python flushes the queue before any other frame it
-- sends during a pass (a monitor's exit, a cancel, a pg broadcast), so what a process sends
-- keeps its order.
local S, P = ...

local type, mtype, getmetatable, next, error, rawlen, rawget, pcall, tostring =
  type, math.type, getmetatable, next, error, rawlen, rawget, pcall, tostring
local char, sbyte, ssub, sfind, spack, sunpack, concat, utf8len =
  string.char, string.byte, string.sub, string.find, string.pack, string.unpack, table.concat, utf8.len
local ERR, PAYLOAD, CH, YIELD, new_error, describe = S.ERR, S.PAYLOAD, S.CH, S.YIELD, S.new_error, S.describe

local MAX_TABLES = 250000   -- as a local copy (core.lua) and a conversion (convert.py)
local ERROR_EXT = 1

local SMALL = {}            -- one-byte encodings: positive and negative fixints
for i = 0, 127 do SMALL[i] = char(i) end
for i = -32, -1 do SMALL[i] = char(i + 256) end

local function str(s)
  local n = #s
  if utf8len(s) then   -- a msgpack str is UTF-8 (Python decodes it); other bytes travel as bin
    if n < 32 then return char(0xa0 + n) .. s end
    if n < 0x100 then return spack(">Bs1", 0xd9, s) end
    if n < 0x10000 then return spack(">Bs2", 0xda, s) end
    return spack(">Bs4", 0xdb, s)
  end
  if n < 0x100 then return spack(">Bs1", 0xc4, s) end
  if n < 0x10000 then return spack(">Bs2", 0xc5, s) end
  return spack(">Bs4", 0xc6, s)
end

local function int(v)
  local s = SMALL[v]
  if s then return s end
  if v > 0 then
    if v < 0x100 then return spack(">BB", 0xcc, v) end
    if v < 0x10000 then return spack(">BI2", 0xcd, v) end
    if v < 0x100000000 then return spack(">BI4", 0xce, v) end
  else
    if v >= -0x80 then return spack(">Bb", 0xd0, v) end
    if v >= -0x8000 then return spack(">Bi2", 0xd1, v) end
    if v >= -0x80000000 then return spack(">Bi4", 0xd2, v) end
  end
  return spack(">Bi8", 0xd3, v)
end

local function header(n, fix, b16, b32)
  if n < 16 then return char(fix + n) end
  if n < 0x10000 then return spack(">BI2", b16, n) end
  return spack(">BI4", b32, n)
end

local encode   -- forward

local function scalar(v)
  local t = type(v)
  if t == "string" then return str(v) end
  if t == "number" then
    if mtype(v) == "integer" then return int(v) end
    return spack(">Bd", 0xcb, v)
  end
  if t == "boolean" then return v and "\xc3" or "\xc2" end
  if v == nil then return "\xc0" end
  return nil
end

local function encode_error(e, out, seen, depth)
  local kind, message, retryable, details, stack = S.error_fields(e)
  local body = {"\x95", str(kind), str(message), retryable == nil and "\xc0" or (retryable and "\xc3" or "\xc2")}
  encode(details, body, seen, depth + 1)
  body[#body + 1] = stack and str(stack) or "\xc0"
  local data = concat(body)
  local n = #data
  if n < 0x100 then out[#out + 1] = spack(">BBB", 0xc7, n, ERROR_EXT)
  elseif n < 0x10000 then out[#out + 1] = spack(">BI2B", 0xc8, n, ERROR_EXT)
  else out[#out + 1] = spack(">BI4B", 0xc9, n, ERROR_EXT) end
  out[#out + 1] = data
end

-- v's encoding appended to `out`: the rules of a local copy (no functions, cycles, or more than
-- MAX_TABLES tables or 128 levels) and of a conversion to Python (a table of keys 1..n is an
-- array, other tables maps with scalar keys; the empty table an empty array)
encode = function(v, out, seen, depth)
  local s = scalar(v)
  if s then out[#out + 1] = s; return end
  local t = type(v)
  if t ~= "table" then error("cannot send a " .. t .. " value", 0) end
  if YIELD.f then YIELD.y() end   -- a long encoding is preempted like any loop
  if depth > 128 then error("value nested deeper than 128 levels", 0) end
  local count = (seen.n or 0) + 1
  if count > MAX_TABLES then error("value too large to send (more than " .. MAX_TABLES .. " tables)", 0) end
  seen.n = count
  local mt = getmetatable(v)
  if mt == PAYLOAD then return encode(rawget(v, "v"), out, seen, depth) end
  if mt == ERR then return encode_error(v, out, seen, depth) end
  if mt == CH then error("cannot send a channel to another node", 0) end
  if seen[v] then error("cannot copy a cyclic table", 0) end
  seen[v] = true
  local n, keys, array = rawlen(v), 0, true
  for k in next, v do
    keys = keys + 1
    if array and not (mtype(k) == "integer" and k >= 1 and k <= n) then array = false end
  end
  if array and keys == n then
    out[#out + 1] = header(n, 0x90, 0xdc, 0xdd)
    for i = 1, n do encode(rawget(v, i), out, seen, depth + 1) end
  else
    out[#out + 1] = header(keys, 0x80, 0xde, 0xdf)
    for k, x in next, v do
      local ks = scalar(k)
      if not ks then error("table key of unsupported type " .. type(k), 0) end
      out[#out + 1] = ks
      encode(x, out, seen, depth + 1)
    end
  end
  seen[v] = nil
end

---------------------------------------------------------------------------
-- the queue
---------------------------------------------------------------------------
local out, nout = {}, 0    -- pid, topic, from and value of each message queued, in order
local remote, nremote = {}, 0   -- pid -> whether it names a process of another node (a cache)
local pending = false      -- Python knows there is something to flush
local copy = S.copy

local function of_another_node(pid)
  local r = remote[pid]
  if r ~= nil then return r end
  r = false
  local at, bar = sfind(pid, "@", 2, true), sfind(pid, "|", 2, true)
  if sbyte(pid, 1) == 123 and at and bar and at < bar and not sfind(pid, "|", bar + 1, true) then
    r = ssub(pid, 2, at - 1) ~= S.node and not P.routes_itself(pid)
  end
  if nremote >= 4096 then remote, nremote = {}, 0 end
  nremote = nremote + 1
  remote[pid] = r
  return r
end

-- Encode what is queued and hand it to Python: one string per destination node and host, in the
-- order they were first used, holding its messages in the order they were sent. A run of
-- messages with the same pid, topic and sender is one array: {pid, topic, from, value...}.
local function flush()
  if nout == 0 then return end
  local msgs, n = out, nout
  out, nout, pending = {}, 0, false   -- fresh before calling out
  local queues, nq, of = {}, 0, {}
  local dropped, why = 0, nil
  for i = 1, n, 4 do
    local pid, topic, from, value = msgs[i], msgs[i + 1], msgs[i + 2], msgs[i + 3]
    local q = of[pid]
    if not q then
      local at, bar = sfind(pid, "@", 2, true), sfind(pid, "|", 2, true)
      local node, host = ssub(pid, 2, at - 1), ssub(pid, at + 1, bar - 1)
      for j = 1, nq do
        local o = queues[j]
        if o.node == node and o.host == host then q = o; break end
      end
      if not q then
        q = {node = node, host = host, n = 0}
        nq = nq + 1
        queues[nq] = q
      end
      of[pid] = q
    end
    if q.pid ~= pid or q.topic ~= topic or q.from ~= from then   -- a new run
      if q.at then q[q.at] = header(3 + q.k, 0x90, 0xdc, 0xdd) end
      local k = q.n
      q[k + 2] = str(pid) .. str(topic) .. (from and str(from) or "\xc0")
      q.at, q.k, q.n = k + 1, 0, k + 2
      q.pid, q.topic, q.from = pid, topic, from
    end
    local body = scalar(value)
    if not body then
      local parts = {}
      local ok, err = pcall(encode, value, parts, {}, 0)
      if ok then body = concat(parts) else dropped = dropped + 1; why = why or err end
    end
    if body then
      local k = q.n + 1
      q[k], q.n, q.k = body, k, q.k + 1
    end
  end
  local arg = S.bytes.arg
  for j = 1, nq do
    local q = queues[j]
    q[q.at] = header(3 + q.k, 0x90, 0xdc, 0xdd)
    P.send_wire(q.node, q.host, arg(concat(q, "", 1, q.n)))
  end
  if dropped > 0 then P.wire_dropped(dropped, describe(why)) end
end
S.flush_remote = flush

local MAX_QUEUED = 4 * 16384   -- slots queued past which a sending task flushes them itself

-- Queue a message for a process of another node: true, or nil and an Invalid error (a value that
-- cannot be sent: copied now, as a local send copies it). false: pid is no process of another
-- node (the caller sends it the local way).
function S.remote_send(pid, topic, from, value)
  if not S.wire or not of_another_node(pid) then return false end
  if type(value) == "table" then
    local ok, v = pcall(copy, value, {wire = true})
    if not ok then return nil, new_error("Invalid", describe(v)) end
    value = v
  end
  local n = nout
  out[n + 1], out[n + 2], out[n + 3], out[n + 4] = pid, topic, from, value
  nout = n + 4
  if not pending then pending = true; P.wire_pending() end
  if nout >= MAX_QUEUED then flush() end
  return true
end

---------------------------------------------------------------------------
-- receiving
---------------------------------------------------------------------------
local decode   -- forward

local function decode_n(s, pos, n, depth, array)
  local t = {}
  if depth > 130 then error("value nested too deep", 0) end
  if array then
    for i = 1, n do t[i], pos = decode(s, pos, depth + 1) end
  else
    for _ = 1, n do
      local k, v
      k, pos = decode(s, pos, depth + 1)
      v, pos = decode(s, pos, depth + 1)
      if k == nil then error("nil map key", 0) end
      t[k] = v
    end
  end
  return t, pos
end

local function decode_ext(s, pos, n, code, depth)
  if code ~= ERROR_EXT then error("unknown extension " .. code, 0) end
  local f, stop = decode(s, pos, depth + 1)
  if stop ~= pos + n or type(f) ~= "table" then error("malformed error value", 0) end
  return new_error(f[1], f[2], f[3], f[4], f[5]), stop
end

-- the value at s[pos] and the position after it
decode = function(s, pos, depth)
  local b = sbyte(s, pos)
  if not b then error("truncated value", 0) end
  if b < 0x80 then return b, pos + 1 end
  if b >= 0xe0 then return b - 256, pos + 1 end
  if b >= 0xa0 and b < 0xc0 then
    local stop = pos + b - 0xa0
    return ssub(s, pos + 1, stop), stop + 1
  end
  if b < 0x90 then return decode_n(s, pos + 1, b - 0x80, depth, false) end
  if b < 0xa0 then return decode_n(s, pos + 1, b - 0x90, depth, true) end
  if b == 0xc0 then return nil, pos + 1 end
  if b == 0xc2 then return false, pos + 1 end
  if b == 0xc3 then return true, pos + 1 end
  if b == 0xd9 or b == 0xc4 then return sunpack(">s1", s, pos + 1) end
  if b == 0xda or b == 0xc5 then return sunpack(">s2", s, pos + 1) end
  if b == 0xdb or b == 0xc6 then return sunpack(">s4", s, pos + 1) end
  if b == 0xcb then return sunpack(">d", s, pos + 1) end
  if b == 0xca then return sunpack(">f", s, pos + 1) end
  if b == 0xcc then return sunpack(">B", s, pos + 1) end
  if b == 0xcd then return sunpack(">I2", s, pos + 1) end
  if b == 0xce then return sunpack(">I4", s, pos + 1) end
  if b == 0xd0 then return sunpack(">b", s, pos + 1) end
  if b == 0xd1 then return sunpack(">i2", s, pos + 1) end
  if b == 0xd2 then return sunpack(">i4", s, pos + 1) end
  if b == 0xd3 then return sunpack(">i8", s, pos + 1) end
  if b == 0xdc then local n, p = sunpack(">I2", s, pos + 1); return decode_n(s, p, n, depth, true) end
  if b == 0xdd then local n, p = sunpack(">I4", s, pos + 1); return decode_n(s, p, n, depth, true) end
  if b == 0xde then local n, p = sunpack(">I2", s, pos + 1); return decode_n(s, p, n, depth, false) end
  if b == 0xdf then local n, p = sunpack(">I4", s, pos + 1); return decode_n(s, p, n, depth, false) end
  if b == 0xc7 then local n, c, p = sunpack(">Bb", s, pos + 1); return decode_ext(s, p, n, c, depth) end
  if b == 0xc8 then local n, c, p = sunpack(">I2b", s, pos + 1); return decode_ext(s, p, n, c, depth) end
  if b == 0xc9 then local n, c, p = sunpack(">I4b", s, pos + 1); return decode_ext(s, p, n, c, depth) end
  if b >= 0xd4 and b <= 0xd8 then
    local c, p = sunpack(">b", s, pos + 1)
    return decode_ext(s, p, 1 << (b - 0xd4), c, depth)
  end
  error(("unsupported encoding 0x%02x"):format(b), 0)
end

local deliver = S.deliver

local function deliver_all(s, procs)
  local pos, len, full, first = 1, #s, 0, nil
  while pos <= len do
    local b, n = sbyte(s, pos), nil
    if b >= 0x93 and b < 0xa0 then n, pos = b - 0x90, pos + 1
    elseif b == 0xdc then n, pos = sunpack(">I2", s, pos + 1)
    elseif b == 0xdd then n, pos = sunpack(">I4", s, pos + 1)
    else error("malformed messages", 0) end
    local pid, topic, from, value
    pid, pos = decode(s, pos, 0)
    topic, pos = decode(s, pos, 0)
    from, pos = decode(s, pos, 0)
    local proc = procs[pid]
    for _ = 4, n do
      value, pos = decode(s, pos, 0)
      if proc then
        local ok, err = deliver(proc, topic, from, value)
        if not ok then full = full + 1; first = first or err end
      end
    end
  end
  return full, first
end

local incoming, nin = {}, 0   -- strings from other nodes, to deliver at the next pass

-- Messages from another node, as its flush encoded them: delivered in order at the start of the
-- next pass, in the scheduler's thread (a process that is gone, or a full mailbox, drops its
-- message).
function S.deliver_wire(s)
  nin = nin + 1
  incoming[nin] = s
end

local function deliver_incoming()
  local list, n = incoming, nin
  incoming, nin = {}, 0
  local procs = S.procs
  for i = 1, n do
    local ok, full, first = pcall(deliver_all, list[i], procs)
    if not ok then P.wire_dropped(0, "malformed messages from another node: " .. describe(full))
    elseif full > 0 then P.wire_dropped(full, describe(first)) end
  end
end

-- each scheduler pass first delivers what came from other nodes, and ends by sending what it
-- queued for them (here, in the scheduler's own thread)
local run = S.run
function S.run(budget)
  if nin > 0 then deliver_incoming() end
  local more, at = run(budget)
  if nout > 0 then flush() end
  return more, at
end
