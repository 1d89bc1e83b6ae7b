-- The `system` module: runtime information (memory, GC, hosts, services, node) and
-- node-local locks. Every call is checked against the security policy (system.read etc.).
local S, P, py = ...
local type, tostring = type, tostring
local mtype = math.type
local new_error = S.new_error

local function denied(action, resource)
  return new_error("Invalid", "permission denied: " .. action .. " on " .. tostring(resource))
end

-- guarded(action, resource, fn): fn runs only when the caller may do action on resource
local function guarded(action, resource, fn)
  return function(...)
    if not S.check(action, resource) then return nil, denied(action, resource) end
    return fn(...)
  end
end
local function value(fn) return function(...) return fn(...), nil end end

local system = {
  memory = {
    stats = guarded("system.read", "memory", value(py.memory_stats)),
    allocated = guarded("system.read", "memory", value(py.allocated)),
    heap_objects = guarded("system.read", "memory", value(py.heap_objects)),
    get_limit = guarded("system.read", "memory_limit", value(py.get_limit)),
    set_limit = guarded("system.control", "memory_limit", function(limit)
      if mtype(limit) ~= "integer" then return nil, new_error("Invalid", "limit must be an integer (-1 for unlimited)") end
      return py.set_limit(limit)
    end),
  },
  gc = {
    collect = guarded("system.gc", "gc", value(py.gc_collect)),
    get_percent = guarded("system.read", "gc_percent", value(py.get_percent)),
    set_percent = guarded("system.gc", "gc_percent", function(pct)
      if mtype(pct) ~= "integer" then return nil, new_error("Invalid", "percent must be an integer") end
      return py.set_percent(pct)
    end),
  },
  runtime = {
    goroutines = guarded("system.read", "goroutines", value(py.goroutines)),
    cpu_count = guarded("system.read", "cpu", value(py.cpu_count)),
    -- Lua runs on the one event loop thread; the CPU work of modules (compression, key
    -- derivation) runs on the worker threads of modules/offload.py: their number is the parallelism
    -- this runtime has, so it is what max_procs reads and sets (node-wide, as GOMAXPROCS)
    max_procs = function(n)
      if n == nil then
        if not S.check("system.read", "gomaxprocs") then return nil, denied("system.read", "gomaxprocs") end
        return py.max_procs(), nil
      end
      if not S.check("system.control", "gomaxprocs") then return nil, denied("system.control", "gomaxprocs") end
      if mtype(n) ~= "integer" or n <= 0 then return nil, new_error("Invalid", "max_procs must be > 0") end
      return py.set_max_procs(n)
    end,
  },
  process = {
    pid = guarded("system.read", "pid", value(py.pid)),
    hostname = guarded("system.read", "hostname", py.hostname),
    cwd = guarded("system.read", "cwd", py.cwd),
  },
  hosts = {
    list = guarded("system.read", "hosts", py.hosts_list),
    processes = guarded("system.read", "hosts", function(host_id)
      if type(host_id) ~= "string" or host_id == "" then return nil, new_error("Invalid", "host id is required") end
      return py.host_processes(host_id)
    end),
  },
  supervisor = {
    state = guarded("system.read", "supervisor", function(id)
      if type(id) ~= "string" or id == "" then return nil, new_error("Invalid", "service id is required") end
      return py.supervisor_state(id)
    end),
    states = guarded("system.read", "supervisor", py.supervisor_states),
  },
  node = {
    id = guarded("system.read", "node", value(py.node_id)),
    addr = guarded("system.read", "node", py.node_addr),
    role = guarded("system.read", "node", py.node_role),
  },
  cluster = {
    members = guarded("system.read", "cluster", py.cluster_members),
    leader = guarded("system.read", "cluster", value(py.cluster_leader)),
    size = guarded("system.read", "cluster", value(py.cluster_size)),
  },
  -- Raft's place is taken by the API server: etcd is the linearizable store, and the app's
  -- leader is the holder of its leader Lease (term: the Lease's transitions; commit index: its
  -- resourceVersion). Without a cluster these answer "raft not available".
  raft = {
    is_leader = guarded("system.read", "raft", function() return py.raft("is_leader") end),
    is_member = guarded("system.read", "raft", function() return py.raft("is_member") end),
    role = guarded("system.read", "raft", function() return py.raft("role") end),
    term = guarded("system.read", "raft", function() return py.raft("term") end),
    commit_index = guarded("system.read", "raft", function() return py.raft("commit_index") end),
    stats = guarded("system.read", "raft_stats", function() return py.raft("stats") end),
  },
  lock = {},
}

local function lock_call(fn)
  return function(name)
    if type(name) ~= "string" or name == "" then return nil, new_error("Invalid", "lock name is required") end
    if not S.check("system.lock", name) then return nil, denied("system.lock", name) end
    local task = S.current()
    if not task or not task.proc then return nil, new_error("Internal", "locks are held by processes: no process") end
    return fn(name, task.proc)
  end
end
system.lock.acquire = lock_call(function(name, proc)
  local ok, err = py.lock_acquire(name, proc.pid)
  if ok then proc.named = true end   -- the node frees a named process's names when it exits
  return ok, err
end)
system.lock.release = lock_call(function(name, proc) return py.lock_release(name, proc.pid), nil end)

system.modules = guarded("system.read", "modules", value(py.modules))

function system.exit(code)
  if code == nil then code = 0 end
  if mtype(code) ~= "integer" then return nil, new_error("Invalid", "exit code must be an integer") end
  if not S.check("system.exit", "") then return nil, denied("system.exit", "-") end
  return py.exit(code)
end

return system
