-- The `hash` module: md5/sha1/sha256/sha512 and their HMACs (hex, or raw bytes when the
-- last argument is truthy), and FNV hashes as numbers. Digests run in Python (hashlib);
-- FNV runs here. As in Wippy's code, fnv32/fnv64 are FNV-1 (Go's fnv.New32/New64).
local S, P, py = ...
local type, byte = type, string.byte
local new_error, arg = S.new_error, S.bytes.arg

local hash = {}

for _, algo in ipairs({"md5", "sha1", "sha256", "sha512"}) do
  local digest = py.digest
  hash[algo] = function(data, raw)
    if type(data) ~= "string" then return nil, new_error("Invalid", "data must be a string", false) end
    local ref, n = arg(data)
    return digest(algo, ref, n, raw and true or false), nil
  end
  local hmac = py.hmac
  hash["hmac_" .. algo] = function(data, secret, raw)
    if type(data) ~= "string" then return nil, new_error("Invalid", "data must be a string", false) end
    if type(secret) ~= "string" then return nil, new_error("Invalid", "secret must be a string", false) end
    local ref, n = arg(data)
    local kref, kn = arg(secret)
    return hmac(algo, ref, n, kref, kn, raw and true or false), nil
  end
end

function hash.fnv32(data)
  if type(data) ~= "string" then return nil, new_error("Invalid", "data must be a string", false) end
  local h = 2166136261
  for i = 1, #data do
    h = ((h * 16777619) & 0xffffffff) ~ byte(data, i)
  end
  return h, nil
end

function hash.fnv64(data)
  if type(data) ~= "string" then return nil, new_error("Invalid", "data must be a string", false) end
  local h = -3750763034362895579          -- 14695981039346656037 as a wrapped int64
  for i = 1, #data do
    h = (h * 1099511628211) ~ byte(data, i)   -- integer arithmetic wraps at 64 bits
  end
  if h < 0 then return h + 18446744073709551616.0, nil end   -- unsigned value (float, as in Go)
  return h, nil
end

return hash
