-- The `crypto` module: random data, HMAC, AES-GCM and ChaCha20-Poly1305, JWT (HS*/RS256),
-- PBKDF2 and constant-time comparison. Binary arguments cross as bytes (binary.lua); the
-- work runs in Python (`cryptography`, hashlib, hmac, secrets).
local S, P, py = ...
local type, math_type = type, math.type
local new_error, arg = S.new_error, S.bytes.arg

local function invalid(msg) return nil, new_error("Invalid", msg, false) end
local function str(v) return type(v) == "string" end

local crypto = {random = {}, hmac = {}, encrypt = {}, decrypt = {}, jwt = {}}

local MAX_RANDOM = 1048576
local function length(n, what)
  if math_type(n) ~= "integer" and not (type(n) == "number" and n == n // 1) then return nil end
  n = n // 1
  if n < 1 or n > MAX_RANDOM then return nil end
  return n
end

function crypto.random.bytes(n)
  local len = length(n)
  if not len then return invalid("length must be an integer from 1 to " .. MAX_RANDOM) end
  return py.random_bytes(len)
end

function crypto.random.string(n, charset)
  local len = length(n)
  if not len then return invalid("length must be an integer from 1 to " .. MAX_RANDOM) end
  if charset ~= nil and (not str(charset) or charset == "") then return invalid("charset must be a non-empty string") end
  return py.random_string(len, charset)
end

function crypto.random.uuid() return py.random_uuid() end

for _, algo in ipairs({"sha256", "sha512"}) do
  crypto.hmac[algo] = function(key, data)
    if not str(key) or key == "" then return invalid("key must be a non-empty string") end
    if not str(data) then return invalid("data must be a string") end
    local kref, kn = arg(key)
    return py.hmac(algo, kref, kn, arg(data))
  end
end

local function aead(direction, cipher)
  local fn = py[direction]
  return function(data, key, aad)
    if not str(data) then return invalid("data must be a string") end
    if not str(key) or key == "" then return invalid("key must be a non-empty string") end
    if aad ~= nil and not str(aad) then return invalid("aad must be a string") end
    local dref, dn = arg(data)
    local kref, kn = arg(key)
    local aref, an
    if aad ~= nil then aref, an = arg(aad) end
    return fn(cipher, dref, dn, kref, kn, aref, an)
  end
end
crypto.encrypt.aes = aead("encrypt", "aes")
crypto.encrypt.chacha20 = aead("encrypt", "chacha20")
crypto.decrypt.aes = aead("decrypt", "aes")
crypto.decrypt.chacha20 = aead("decrypt", "chacha20")

function crypto.jwt.encode(payload, key, alg)
  if type(payload) ~= "table" then return invalid("payload must be a table") end
  if not str(key) or key == "" then return invalid("key must be a non-empty string") end
  if alg ~= nil and not str(alg) then return invalid("alg must be a string") end
  local kref, kn = arg(key)
  return py.jwt_encode(S.copy(payload), kref, kn, alg or "HS256")
end

function crypto.jwt.verify(token, key, alg, require_exp)
  if not str(token) then return invalid("token must be a string") end
  if not str(key) or key == "" then return invalid("key must be a non-empty string") end
  if alg ~= nil and not str(alg) then return invalid("alg must be a string") end
  local kref, kn = arg(key)
  return py.jwt_verify(token, kref, kn, alg or "HS256", require_exp ~= false)
end

function crypto.pbkdf2(password, salt, iterations, key_length, hash)
  if not str(password) then return invalid("password must be a string") end
  if not str(salt) then return invalid("salt must be a string") end
  if math_type(iterations) ~= "integer" or iterations < 1 or iterations > 10000000 then
    return invalid("iterations must be an integer from 1 to 10000000")
  end
  if math_type(key_length) ~= "integer" or key_length < 1 or key_length > MAX_RANDOM then
    return invalid("key_length must be an integer from 1 to " .. MAX_RANDOM)
  end
  hash = hash or "sha256"
  if hash ~= "sha256" and hash ~= "sha512" then return invalid("hash must be sha256 or sha512") end
  local pref, pn = arg(password)
  local sref, sn = arg(salt)
  return py.pbkdf2(pref, pn, sref, sn, iterations, key_length, hash)
end

function crypto.constant_time_compare(a, b)
  if not str(a) or not str(b) then return false end
  local aref, an = arg(a)
  return py.compare(aref, an, arg(b))
end

return crypto
