-- The `compress` module: gzip, deflate, zlib, brotli and zstd (with dictionaries).
-- Options are checked here; the work runs in Python (zlib, brotli, zstandard) on the bytes
-- of the Lua string, with no per-byte conversion.
local S, P, py = ...
local type, pairs, tostring, math_type = type, pairs, tostring, math.type
local new_error, arg = S.new_error, S.bytes.arg

local DEFAULT_MAX = 128 * 1024 * 1024
local LIMIT_MAX = 1024 * 1024 * 1024

local function invalid(msg) return new_error("Invalid", msg, false) end

-- returns a table of checked options or nil, err
local function options(o, allowed)
  if o == nil then return {} end
  if type(o) ~= "table" then return nil, invalid("options must be a table") end
  for k in pairs(o) do
    if not allowed[k] then return nil, invalid("unknown option '" .. tostring(k) .. "'") end
  end
  return o
end

local function int_opt(o, name, lo, hi, default)
  local v = o[name]
  if v == nil then return default end
  if math_type(v) ~= "integer" and not (type(v) == "number" and v == v // 1) then
    return nil, invalid(name .. " must be an integer")
  end
  v = v // 1
  if v < lo or v > hi then
    return nil, invalid(name .. " " .. tostring(v) .. " out of range " .. lo .. "-" .. hi)
  end
  return v
end

local ENC_OPTS = {level = true}
local DEC_OPTS = {max_size = true}
local ZENC_OPTS = {level = true, dict = true}
local ZDEC_OPTS = {max_size = true, dict = true}

local function input(data)
  if type(data) ~= "string" then return nil, invalid("data must be a string") end
  if #data == 0 then return nil, invalid("empty input") end
  return true
end

local function dict_arg(o)
  local d = o.dict
  if d == nil then return nil, 0 end
  if type(d) ~= "string" or #d == 0 then return false end
  return arg(d)
end

local function codec(algo, lo, hi, default, enc_opts, dec_opts)
  local c = {}
  -- large inputs (or outputs) are worked on in a thread, the process parked (offload.py); a
  -- decode starts on the loop and moves to a thread past offload.INLINE_OUTPUT bytes of output
  local encode, decode, encode_off, decode_off = py.encode, py.decode, py.encode_off, py.decode_off
  local INLINE = py.inline_bytes
  function c.encode(data, opts)
    local ok, err = input(data)
    if not ok then return nil, err end
    local o; o, err = options(opts, enc_opts)
    if not o then return nil, err end
    local level; level, err = int_opt(o, "level", lo, hi, default)
    if not level then return nil, err end
    local dref, dn = dict_arg(o)
    if dref == false then return nil, invalid("dict must be a non-empty string") end
    local ref, n = arg(data)
    if n > INLINE then return encode_off(algo, ref, n, level, dref, dn) end
    return encode(algo, ref, n, level, dref, dn)
  end
  function c.decode(data, opts)
    local ok, err = input(data)
    if not ok then return nil, err end
    local o; o, err = options(opts, dec_opts)
    if not o then return nil, err end
    local max; max, err = int_opt(o, "max_size", 1, LIMIT_MAX, DEFAULT_MAX)
    if not max then return nil, err end
    local dref, dn = dict_arg(o)
    if dref == false then return nil, invalid("dict must be a non-empty string") end
    local ref, n = arg(data)
    if n > INLINE then return decode_off(algo, ref, n, max, dref, dn) end
    local out, derr = decode(algo, ref, n, max, dref, dn)   -- false: too much output for the loop
    if out == false then return decode_off(algo, ref, n, max, dref, dn) end
    return out, derr
  end
  return c
end

local compress = {
  gzip = codec("gzip", 1, 9, 6, ENC_OPTS, DEC_OPTS),
  deflate = codec("deflate", 1, 9, 6, ENC_OPTS, DEC_OPTS),
  zlib = codec("zlib", 1, 9, 6, ENC_OPTS, DEC_OPTS),
  brotli = codec("brotli", 0, 11, 6, ENC_OPTS, DEC_OPTS),
  zstd = codec("zstd", 1, 22, 3, ZENC_OPTS, ZDEC_OPTS),
}

local TRAIN_OPTS = {size = true, id = true, level = true}

function compress.zstd.train_dict(samples, opts)
  if type(samples) ~= "table" then return nil, invalid("samples must be an array of strings") end
  local o, err = options(opts, TRAIN_OPTS)
  if not o then return nil, err end
  local size; size, err = int_opt(o, "size", 256, 1048576, 114688)
  if not size then return nil, err end
  local id; id, err = int_opt(o, "id", 0, 0xffffffff, 0)
  if not id then return nil, err end
  local level; level, err = int_opt(o, "level", 1, 22, 0)
  if not level then return nil, err end
  local refs, lens, long = {}, {}, false
  for i = 1, #samples do
    local s = samples[i]
    if type(s) ~= "string" then return nil, invalid("sample " .. i .. " is not a string") end
    if #s >= 8 then long = true end
    refs[i], lens[i] = arg(s)
  end
  if not long then return nil, invalid("at least one sample of 8 bytes or more is needed") end
  return py.train(refs, lens, #samples, size, id, level)
end

function compress.zstd.inspect_dict(dict)
  if type(dict) ~= "string" or #dict == 0 then return nil, invalid("dict must be a non-empty string") end
  return py.inspect(arg(dict))
end

return compress
