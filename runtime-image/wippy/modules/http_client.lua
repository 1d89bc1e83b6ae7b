-- The `http_client` module: outbound HTTP requests; each call parks the calling task.
-- Returns a response table {status_code, body, body_size, headers, cookies, url} or nil, err.
local S, P, py = ...
local type, pairs, ipairs, gsub, utf8len, char, utf8char = type, pairs, ipairs, string.gsub, utf8.len, string.char, utf8.char
local new_error, copy = S.new_error, S.copy

local LATIN1 = {}
for i = 128, 255 do LATIN1[char(i)] = utf8char(i) end

-- a binary body crosses to Python as latin-1 text, flagged so it is sent byte for byte
-- a file's reader (a stream, or anything with :read(n)) is read whole into its content
local function read_all(r)
  local parts = {}
  while true do
    local ok, chunk, err = pcall(r.read, r, 65536)
    if not ok then return nil, new_error("Invalid", "files: reader: " .. tostring(chunk)) end
    if err then return nil, err end
    if chunk == nil or chunk == "" then return table.concat(parts) end
    parts[#parts + 1] = chunk
  end
end

local function prepare(opts)
  if opts == nil then return {} end
  if type(opts) ~= "table" then return nil, new_error("Invalid", "options must be a table") end
  if opts.private_ok ~= nil then return nil, new_error("Invalid", "unknown option(s): private_ok") end
  if type(opts.files) == "table" then   -- the caller's tables stay as they are
    local files = {}
    for i, f in ipairs(opts.files) do
      files[i] = f
      if type(f) == "table" and f.content == nil and f.reader ~= nil then
        local content, err = read_all(f.reader)
        if content == nil then return nil, err end
        local nf = {content = content}
        for k, v in pairs(f) do if k ~= "reader" then nf[k] = v end end
        files[i] = nf
      end
    end
    local shallow = {files = files}
    for k, v in pairs(opts) do if k ~= "files" then shallow[k] = v end end
    opts = shallow
  end
  local ok, o = pcall(copy, opts)
  if not ok then return nil, new_error("Invalid", "options: " .. tostring(o)) end
  if type(o.body) == "string" and not utf8len(o.body) then
    o.body = gsub(o.body, "[\128-\255]", LATIN1)
    o.body_latin1 = true
  end
  return o
end

-- the http_client.* permissions of the docs; the private addresses the URL's host resolves to
-- are checked one by one and handed on, and only those may be connected to (o.private_ok)
local function allowed(url, o)
  if type(url) ~= "string" then return new_error("Invalid", "url must be a string") end
  if not S.check("http_client.request", url) then return S.denied("http_client.request", url) end
  o.private_ok = {}
  if o.unix_socket == nil then
    for i, ip in ipairs(py.private_addresses(url)) do
      if not S.check("http_client.private_ip", ip) then
        return new_error("PermissionDenied", "not allowed: private IP " .. ip)
      end
      o.private_ok[i] = ip
    end
  end
  if o.unix_socket ~= nil and not S.check("http_client.unix_socket", tostring(o.unix_socket)) then
    return S.denied("http_client.unix_socket", o.unix_socket)
  end
  if type(o.tls) == "table" and o.tls.insecure_skip_verify and not S.check("http_client.insecure_tls", url) then
    return S.denied("http_client.insecure_tls", url)
  end
end

local client = {}

-- stream = true: resp.stream is the shared stream (modules/stream.lua) over the open response;
-- it never outlives the Lua process that made the request
local own, disown = S.process_resources(function(h) py.sclose(h) end)
local BODY = S.stream.class("http_client.Stream", {
  read = py.sread,
  close = function(h) disown(h); py.sclose(h) end,
})

function client.request(method, url, opts)
  local o, err = prepare(opts)
  if err then return nil, err end
  local denied = allowed(url, o)
  if denied then return nil, denied end
  local resp, rerr = py.request(method, url, o)
  if resp == nil then return nil, rerr end
  local h = resp.stream
  if h ~= nil then
    own(h)
    resp.stream = S.stream.new(BODY, h)
  end
  return resp
end

for _, m in pairs({"get", "post", "put", "delete", "head", "patch"}) do
  local method = m:upper()
  client[m] = function(url, opts) return client.request(method, url, opts) end
end

function client.request_batch(list)
  if type(list) ~= "table" then return nil, new_error("Invalid", "request_batch expects a list of {method, url, options}") end
  local items = {}
  for i, r in pairs(list) do
    if type(r) ~= "table" then return nil, new_error("Invalid", "request " .. tostring(i) .. " must be a table") end
    local o, err = prepare(r.options or r[3])
    if err then return nil, err end
    if o and o.stream then return nil, new_error("Invalid", "request " .. tostring(i) .. ": stream is not supported in a batch") end
    local denied = allowed(r.url or r[2], o)
    if denied then return nil, denied end
    items[i] = {method = r.method or r[1], url = r.url or r[2], options = o}
  end
  return py.request_batch(items)
end

function client.encode_uri(s) return py.encode_uri(s) end
function client.decode_uri(s) return py.decode_uri(s) end

return client
