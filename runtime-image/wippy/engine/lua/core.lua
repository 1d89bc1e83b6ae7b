-- The engine core: scheduler, channels, tasks and processes, all inside one Lua state.
-- Hot paths (send, receive, select, spawn, funcs.call) never cross into Python; Python
-- drives `run` from the asyncio loop and is called only for I/O, compilation and routing.
local P, CFG = ...

local co_create, co_resume, co_yield, co_status, co_running, co_close =
  coroutine.create, coroutine.resume, coroutine.yield, coroutine.status, coroutine.running, coroutine.close
local setmetatable, getmetatable, type, select, pairs, next, error, tostring, rawget, rawset, rawequal, pcall =
  setmetatable, getmetatable, type, select, pairs, next, error, tostring, rawget, rawset, rawequal, pcall
local pack, unpack, tinsert, tremove, concat = table.pack, table.unpack, table.insert, table.remove, table.concat
local sethook, clock, sformat, floor = debug.sethook, os.clock, string.format, math.floor
local traceback = debug.traceback

local S = {}
S.node = CFG.node
S.host = CFG.host            -- the host entry id this engine serves
S.procs = {}                 -- pid -> process record
S.factories = {}             -- entry id -> compiled code (process.lua / function.lua / library.lua)
S.modules = {}               -- module name -> module table (installed by Python and by Lua)
S.protected = setmetatable({}, {__mode = "k"})   -- read-only proxies shared by every sandbox
local stats = {spawned = 0, exited = 0, messages = 0}
S.stats = stats
S.strict = CFG.strict_security or false   -- deny checks that have no actor or scope

-- Marker yielded by a task that parks on the scheduler; user coroutines never see it.
local SUSPEND = setmetatable({}, {__name = "suspend"})
-- Raised (and re-raised through pcall) when a task exceeds its budget or is killed.
local KILL = setmetatable({}, {__name = "kill", __tostring = function() return "killed" end})
S.SUSPEND, S.KILL = SUSPEND, KILL

---------------------------------------------------------------------------
-- runtime classes
---------------------------------------------------------------------------
-- A runtime metatable is shared by every process of the engine. With the usual `X.__index = X`
-- an instance hands it out (`obj.__index`), so instances look their methods up in a separate
-- table holding no `__` keys. Methods defined after the split still reach that table.
local function class(mt)
  if rawget(mt, "__index") ~= mt then return mt end
  local methods = {}
  for k, v in next, mt do
    if type(k) ~= "string" or k:sub(1, 2) ~= "__" then methods[k] = v end
  end
  rawset(mt, "__index", methods)
  -- a class inheriting through its own metatable: inherited names reach instances too, `__`
  -- names never (they would lead to the parent's shared tables)
  local parent = getmetatable(mt)
  local inherited = type(parent) == "table" and rawget(parent, "__index") or nil
  if inherited ~= nil then
    setmetatable(methods, {__index = function(_, k)
      if type(k) == "string" and k:sub(1, 2) == "__" then return nil end
      return inherited[k]
    end})
  end
  setmetatable(mt, {__index = inherited, __newindex = function(t, k, v)
    rawset(t, k, v)
    if type(k) ~= "string" or k:sub(1, 2) ~= "__" then methods[k] = v end
  end})
  return mt
end
S.class = class

-- Text for a value without calling any of its metamethods (the runtime never runs code of an
-- entry outside that entry's budget).
local function describe(v)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  local mt = getmetatable(v)
  if type(mt) == "table" and rawget(mt, "__name") == "error" then
    local m = rawget(v, "_message")
    if type(m) == "string" then return m end
  end
  return "(" .. t .. " value)"
end
S.describe = describe

---------------------------------------------------------------------------
-- errors
---------------------------------------------------------------------------
local ERR = {}
ERR.__index = ERR
ERR.__name = "error"
ERR.__tostring = function(e)
  local m = rawget(e, "_message")
  return type(m) == "string" and m or describe(m)
end
function ERR:kind() return self._kind end
function ERR:message() return self._message end
function ERR:retryable() return self._retryable end
function ERR:details() return self._details end
function ERR:stack() return self._stack end
S.ERR = class(ERR)

local function new_error(kind, message, retryable, details, stack)
  return setmetatable({_kind = type(kind) == "string" and kind or "", _message = describe(message),
                       _retryable = retryable, _details = details, _stack = stack}, ERR)
end
S.new_error = new_error

-- An error's fields for Python, read raw and made plain (code may have replaced them).
function S.error_fields(e)
  local kind, stack, retry = rawget(e, "_kind"), rawget(e, "_stack"), rawget(e, "_retryable")
  if type(retry) ~= "boolean" then retry = nil end   -- (not `and retry or nil`: false must stay false)
  return type(kind) == "string" and kind or "", describe(rawget(e, "_message")),
    retry, rawget(e, "_details"), type(stack) == "string" and stack or nil
end

local function is_error(v) return getmetatable(v) == ERR end
S.is_error = is_error

-- Turn whatever a task raised into an error object; strings keep their "chunk:line:" position.
local function as_error(e, kind)
  if is_error(e) then return e end
  if e == KILL then return new_error("Canceled", "killed") end
  if type(e) == "string" and e:find("not enough memory", 1, true) then
    return new_error("LimitExceeded", e)
  end
  return new_error(kind or "Internal", describe(e))
end
S.as_error = as_error

---------------------------------------------------------------------------
-- ready queue and timers
---------------------------------------------------------------------------
local ready, rhead, rtail = {}, 1, 0
local current = nil          -- the task being resumed
local slice_start = 0      -- os.clock() when the current slice began
-- Slices are numbered (S.steps); what the budget hook keeps of a slice names its number, so a
-- new slice starts with nothing to reset
local slice_no = 0
local slice_instr = 0      -- instructions slice `instr_slice` ran (counted by the budget hook)
local instr_slice = -1
local timed_slice = -1     -- the slice in which the current task's tstart/wstart were read

-- Three run queues, so that processes that answer quickly never wait behind CPU-bound ones:
--   ready  tasks woken by a message, a timer or an I/O completion, and ones preempted after a
--          short slice;
--   fresh  new tasks (their first slice), run once `ready` is empty or the pass is over;
--   slow   tasks whose last slice ran longer than SLOW_SLICE, run after those, one long slice at
--          a time.
-- A long slice ends the pass, so the asyncio loop (HTTP, other hosts) gets its turn, and closes
-- the slow queue for half its length (at most 50ms): CPU-bound processes get at most about two thirds of the
-- time, and in the windows between their slices a chain of quick steps (an HTTP request, a
-- message round trip) completes; a neighbour waits for about one slice, not one per step. With
-- nothing else waiting on the asyncio loop the window is skipped: alone, a CPU-bound task runs at
-- full speed.
local fresh, fhead, ftail = {}, 1, 0
local slow, shead, stail = {}, 1, 0
local SLOW_SLICE = 0.005
local slow_after = 0         -- loop time before which the slow queue stays closed
local SLOW_GAP = 0.1         -- at most twice the longest wait (a window is enough for the loop)

local function push_ready(task)
  if task.slow then
    stail = stail + 1
    slow[stail] = task
  else
    rtail = rtail + 1
    ready[rtail] = task
  end
end

local function wake(task, a, b, c)
  if task.dead then return end
  task.a, task.b, task.c = a, b, c
  push_ready(task)
end
S.wake = wake

local function suspend()
  local a, b, c = co_yield(SUSPEND)
  return a, b, c
end
S.suspend = suspend

-- Preemption. The count hook raises YIELD.f once a slice has run PREEMPT_AFTER (wall time); the
-- yield points test it: those the front end compiles into every entry's code (loop bodies,
-- function entries, backward gotos), long loops of the runtime's own Lua, and operations that
-- may complete without parking (a receive from a full inbox, a send, funcs.call, a call into
-- Python). A flag test, so no clock is read on those paths.
-- The entries' yield points are one table store, `__wy.p = true` (one VM instruction against a
-- flag test's three: a quarter of a tight loop's time). lang/emit.py binds POINT, not YIELD, as
-- the chunk's local `__wy`, a name no source can use. While the flag is down `p` is set and the
-- store is a plain assignment; raising the flag removes `p`, so the next store reaches POINT's
-- __newindex, the checkpoint (a metamethod that Lua code triggers may yield). Were POINT ever
-- reached, its metatable is locked, the flag, `stuck` and `y` are not in it, and code that sets
-- `p` while the flag is up is ended by the budget hook.
-- A preempted task is CPU-bound: it goes to the slow queue. Its CPU since it last waited (for a
-- message, a timer, I/O) adds up across preemptions and ends it past busy_timeout.
local YIELD = {f = false, stuck = false}
S.YIELD = YIELD
local POINT = {p = true}
S.YIELD_POINT = POINT
local function raise_flag() YIELD.f = true; rawset(POINT, "p", nil) end
local function lower_flag() YIELD.f = false; rawset(POINT, "p", true) end
local isyieldable = coroutine.isyieldable
local thread_time = P.thread_time
local limit_exceeded   -- forward: ends the current process with a LimitExceeded error

local function checkpoint()
  if YIELD.f then
    local task = current
    if task and isyieldable() then   -- (not inside a sort comparator or a gsub callback)
      lower_flag()
      if timed_slice ~= slice_no then   -- raised before the budget hook read the clocks (GC_PROBE)
        task.tstart = thread_time() - (clock() - slice_start)
      end
      local busy = (task.busy or 0) + (thread_time() - (task.tstart or 0))
      local max = S.busy_timeout
      if max > 0 and busy > max then
        limit_exceeded("busy time limit", sformat("%gs", max), "busy_timeout",
          sformat("; ran %.2fs of CPU without waiting", busy))
      end
      task.busy, task.preempted, task.slow = busy, true, true
      push_ready(task)
      suspend()
    else
      YIELD.stuck = true   -- a yield point where no yield is possible (budget_hook)
    end
  end
end
YIELD.y = checkpoint
-- a store to `p` while it is missing: the flag is up (`p` is set again when it is lowered), or
-- `p` was removed by other means, which costs this call until it is set again here
setmetatable(POINT, {__metatable = false, __newindex = function()
  checkpoint()
  if not YIELD.f then rawset(POINT, "p", true) end
end})
S.checkpoint = checkpoint

-- timers: binary heap ordered by deadline (seconds on the loop's monotonic clock)
local heap, hn, tseq = {}, 0, 0
local function heap_push(t)
  hn = hn + 1; heap[hn] = t
  local i = hn
  while i > 1 do
    local p = i // 2
    local hp = heap[p]
    if hp.at < t.at or (hp.at == t.at and hp.seq < t.seq) then break end
    heap[i], heap[p] = hp, t
    i = p
  end
end
local function heap_pop()
  local top = heap[1]
  heap[1] = heap[hn]; heap[hn] = nil; hn = hn - 1
  local i = 1
  while true do
    local l, r, m = 2 * i, 2 * i + 1, i
    if l <= hn and (heap[l].at < heap[m].at or (heap[l].at == heap[m].at and heap[l].seq < heap[m].seq)) then m = l end
    if r <= hn and (heap[r].at < heap[m].at or (heap[r].at == heap[m].at and heap[r].seq < heap[m].seq)) then m = r end
    if m == i then break end
    heap[i], heap[m] = heap[m], heap[i]
    i = m
  end
  return top
end

local now = P.monotonic
S.now = now

local firing = nil     -- the timer being fired: a timer it sets (a ticker's next tick) has its owner

-- A process's timers are counted against the host's max_timers and die with it. Modules cancel a
-- timer by setting `cancelled`; the first set reaches __newindex, which releases the count.
-- (proc.timers, made on a process's first timer: its timers as keys and their count as `n`)
local function release_timer(t)
  local proc = rawget(t, "proc")
  local timers = proc and proc.timers
  if timers and timers[t] then timers[t] = nil; timers.n = timers.n - 1 end
end

local TIMER = {__newindex = function(t, k, v)
  rawset(t, k, v)
  if k == "cancelled" and v then release_timer(t) end
end}

-- A timer calls fire(timer) when due unless cancelled.
local function add_timer(delay, fire, data)
  local owner = firing and rawget(firing, "proc") or (current and current.proc)
  tseq = tseq + 1
  local t = setmetatable({at = now() + delay, seq = tseq, fire = fire, data = data, proc = owner}, TIMER)
  if owner then
    if owner.dead then rawset(t, "cancelled", true); return t end
    local timers = owner.timers
    if not timers then timers = {n = 0}; owner.timers = timers end
    if S.max_timers > 0 and timers.n >= S.max_timers then
      rawset(t, "cancelled", true)
      if firing == nil then
        limit_exceeded("timer limit", S.max_timers, "max_timers", " timers alive at once")
      end
      return t
    end
    timers[t] = true
    timers.n = timers.n + 1
  end
  heap_push(t)
  P.arm(t.at)
  return t
end
S.add_timer = add_timer

-- Timers still pending (not cancelled) in the heap, all or one process's.
function S.pending_timers(pid)
  local n = 0
  for i = 1, hn do
    local t = heap[i]
    local proc = rawget(t, "proc")
    if not rawget(t, "cancelled") and (pid == nil or (proc and proc.pid == pid)) then n = n + 1 end
  end
  return n
end

local function fire_timers()
  if hn == 0 then return end
  local t0 = now()
  while hn > 0 and heap[1].at <= t0 do
    local t = heap_pop()
    if not rawget(t, "cancelled") then
      release_timer(t)
      firing = t
      t.fire(t)
      firing = nil
    end
  end
end

---------------------------------------------------------------------------
-- budgets: a count hook bounds how long one slice may run without yielding
---------------------------------------------------------------------------
S.slice_timeout = CFG.slice_timeout or 0
S.max_instructions = CFG.max_instructions or 0
S.max_processes = CFG.max_processes or 0
S.max_mailbox = CFG.max_mailbox or 0
S.max_timers = CFG.max_timers or 0
S.max_memory = CFG.max_memory or 0    -- bytes; the Lua allocator's hard cap sits a reserve above
S.pass_time = CFG.pass_time or 0.02   -- seconds one scheduler pass may run before asyncio gets a turn
S.busy_timeout = CFG.busy_timeout or 0
local HOOK_EVERY = 10000
-- Wall time a slice runs before it is preempted at its next yield point (or half the slice
-- limit of CPU, if less): what a neighbour waits, at worst, behind a CPU-bound process
local PREEMPT_AFTER = 0.01
-- Share of slice_timeout (CPU) a slice may run once preempted without reaching a yield point
-- that can yield: what a neighbour waits, at worst, behind code that cannot yield
local NOYIELD_SHARE = 0.25
-- this thread's CPU clock when YIELD.f was raised in the current slice (-1: raised by the
-- collector's probe, whose time the next hook reads)
local flagged_at = 0
-- Process CPU a slice runs before the budget hook reads the clocks its limits go by (they cross
-- into Python): a hook fires every HOOK_EVERY instructions of a coroutine, mostly in short slices
-- (a message's) where nothing can be due yet
local TIME_AFTER = 0.0005
-- Process CPU between the budget hook's readings of the wall clock (a crossing into Python) in a
-- long slice: preemption comes at most this much CPU after PREEMPT_AFTER of wall time
local WALL_EVERY = 0.00025
local wall_at = 0   -- os.clock of the slice at which the hook next reads the wall clock

local function describe_task(task)
  local proc = task.proc
  if proc then return "process " .. proc.pid .. " (" .. tostring(proc.entry) .. ")" end
  return "a task"
end

-- End the current task's process: the error names the process, its entry, the limit and the host.
limit_exceeded = function(what, limit, field, detail)
  local task = current
  local msg = sformat("%s exceeded the %s of host %s (%s: %s)%s", task and describe_task(task) or "code",
    what, S.host, field, tostring(limit), detail or "")
  if task == nil then error(new_error("LimitExceeded", msg), 0) end
  task.kill_reason = new_error("LimitExceeded", msg)
  task.dead = true
  error(KILL, 0)
end
S.limit_exceeded = limit_exceeded

local function over_memory()
  local max = S.max_memory
  return max > 0 and collectgarbage("count") * 1024 > max
end

-- The collector runs in generational mode while the heap is small: a module's 1 MB result that
-- dies young is freed by a minor collection, which visits young objects only, and its memory is
-- reused while still in cache; the incremental collector walks the whole heap to find it (the
-- AES-GCM encrypt of 1 MB, amortized over 40 calls with 10 MB of tables alive: 3.4-3.7x the
-- direct Python call incremental, ~1.5x generational; bench/modules.py --n 40). But a major
-- collection in generational mode is one atomic C call (~1 ms per MB of small tables): past
-- GEN_MAX_KIB of heap the collector goes incremental, and comes back below half of it (entering
-- generational mode is itself a full collection, then of at most that much). Checked at the end
-- of each pass; meanwhile a major waits until the heap has grown by GEN_MAJOR percent (Lua's
-- default, 100, could run one at 64 MB, ~60 ms in one go inside someone's slice).
local GEN_MAX_KIB = 32 * 1024
local GEN_MAJOR = 1000
local generational = false
local function gc_incremental()
  if generational then collectgarbage("incremental"); generational = false end
end
local function gc_tune()
  local kib = collectgarbage("count")
  if generational then
    if kib > GEN_MAX_KIB then gc_incremental() end
  elseif kib < GEN_MAX_KIB / 2 then
    collectgarbage("generational", 0, GEN_MAJOR); generational = true
  end
end
S.gc_generational = function() return generational end

-- Still over max_memory after two completed collection cycles (one may keep what died while it
-- ran)? The collector works for at most ~10ms per call, a full collection of a big heap being
-- one long C call; nil means not known yet.
local cycles_over = 0
local function over_after_collecting()
  gc_incremental()   -- a step of the generational collector never reports a cycle's end
  local stop = clock() + 0.01
  repeat
    if collectgarbage("step", 1024) then
      if not over_memory() then cycles_over = 0; return false end
      cycles_over = cycles_over + 1
      if cycles_over >= 2 then cycles_over = 0; return true end
    end
  until clock() > stop
  return nil
end

-- The process to end when the heap stays over: the one whose slices grew it most (the heap is
-- measured around every slice; `heap_kib` is the reading before the current slice, whose growth
-- so far counts for the running process), not whichever happens to be running.
local heap_kib = false
local function memory_hog()
  local worst, most = nil, -math.huge
  local running = current and current.proc
  for _, proc in next, S.procs do
    local g = proc.grown or 0
    if proc == running and heap_kib then g = g + collectgarbage("count") - heap_kib end
    if g > most then worst, most = proc, g end
  end
  return worst
end

-- A slice that allocates in few, large steps (`s = s .. s`) runs too few instructions for the
-- count hook: the collector, driven by allocation, calls this finalizer once per cycle, and it
-- raises the yield flag past PREEMPT_AFTER (of CPU) so the next yield point yields.
local GC_PROBE = {}
GC_PROBE.__gc = function()
  if current and not YIELD.f and clock() - slice_start > PREEMPT_AFTER then
    raise_flag()
    YIELD.stuck, flagged_at = false, -1   -- raised with no clock read: the budget hook starts the share
  end
  setmetatable({}, GC_PROBE)
end
setmetatable({}, GC_PROBE)

local function memory_error(proc)
  return new_error("LimitExceeded", sformat("process %s (%s) exceeded the memory limit of host %s "
    .. "(max_memory: %d bytes)", proc.pid, tostring(proc.entry), S.host, S.max_memory))
end

-- Runs inside the task every HOOK_EVERY instructions; kills a task over its budget. The engine
-- also sets it on the state's main thread, so Lua that Python calls on behalf of a task (values
-- it converts, metamethods) counts against that task too.

local function budget_hook()
  local task = current
  if task == nil then return end
  if task.dead then error(KILL, 0) end
  local used = HOOK_EVERY
  if instr_slice == slice_no then used = slice_instr + HOOK_EVERY else instr_slice = slice_no end
  slice_instr = used
  local max_instructions, slice_timeout = S.max_instructions, S.slice_timeout
  if max_instructions > 0 and used > max_instructions then
    limit_exceeded("instruction budget", max_instructions, "max_instructions", " per slice")
  end
  local elapsed = slice_timeout > 0 and clock() - slice_start
  local timed = timed_slice == slice_no
  if elapsed and not timed and (elapsed >= TIME_AFTER or elapsed >= slice_timeout * 0.25 or YIELD.f) then
    -- a slice long enough to matter: when it started, on this thread's CPU clock and the wall
    -- clock (what it ran before, in C calls too, estimated from the process's CPU clock)
    timed_slice, timed = slice_no, true
    task.tstart, task.wstart = thread_time() - elapsed, now() - elapsed
    wall_at = elapsed + WALL_EVERY
  end
  if elapsed and timed then
    -- preempted by the wall clock: on a loaded machine a slice's CPU time is a fraction of what
    -- its neighbours wait
    if not YIELD.f then
      local due = elapsed > slice_timeout * 0.5
      if not due and elapsed >= wall_at then
        wall_at = elapsed + WALL_EVERY
        due = now() - task.wstart > PREEMPT_AFTER
      end
      if due then
        raise_flag()
        YIELD.stuck = false   -- the next yield point yields
        flagged_at = thread_time()
      end
    else
      if rawget(POINT, "p") ~= nil then
        -- set while the flag is up: only code that reached `__wy` does that (see YIELD), to
        -- escape preemption
        limit_exceeded("slice time limit", sformat("%gs", slice_timeout), "slice_timeout",
          "; it set its yield points' field while preempted")
      end
      if flagged_at < 0 then
        flagged_at = thread_time()
      elseif YIELD.stuck and thread_time() - flagged_at > slice_timeout * NOYIELD_SHARE then
        -- still raised, and a yield point was reached where no yield is possible: this code runs
        -- in a callback or metamethod that C calls, or Lua that Python runs, and the node waits
        -- on it; it gets a share of the slice, not all of it (a long C call alone gets the slice)
        limit_exceeded("slice time limit", sformat("%gs", slice_timeout), "slice_timeout",
          sformat("; ran %.3fs past its preemption where it cannot yield (in a callback or "
            .. "metamethod called from C, such as a sort comparator or __tostring)", thread_time() - flagged_at))
      end
    end
    -- os.clock counts the CPU time of every thread of the process: a busy thread elsewhere must
    -- not shorten slices, so this thread's own CPU time (since the hook first ran in the slice)
    -- decides
    if elapsed > slice_timeout then
      local ran = thread_time() - (task.tstart or 0)
      if ran > slice_timeout then
        limit_exceeded("slice time limit", sformat("%gs", slice_timeout), "slice_timeout",
          sformat("; ran %.2fs without yielding", ran))
      end
    end
  end
  if over_memory() and over_after_collecting() then
    local hog = memory_hog()
    if hog == nil or hog == task.proc then
      limit_exceeded("memory limit", sformat("%d bytes", S.max_memory), "max_memory")
    end
    S.exit_proc(hog, nil, memory_error(hog))
  end
end
S.budget_hook = budget_hook

local function new_co(fn)
  local co = co_create(fn)
  -- the count hook roughly halves the speed of tight loops; hosts with no limits go without (a
  -- thread inherits its creator's hook: the main thread's, for a process Python starts)
  if S.slice_timeout > 0 or S.max_instructions > 0 then sethook(co, budget_hook, "", HOOK_EVERY) else sethook(co) end
  return co
end
S.new_co = new_co

---------------------------------------------------------------------------
-- channels (Go semantics: unbuffered rendezvous, buffered, close then drain)
---------------------------------------------------------------------------
local CH = {}
CH.__index = CH
CH.__name = "channel"
S.CH = class(CH)

local function new_channel(size)
  size = size or 0
  if type(size) ~= "number" or size < 0 then error("channel size must be a non-negative number", 2) end
  return setmetatable({cap = size, buf = {}, bh = 1, bt = 0, recvq = {}, sendq = {}, closed = false}, CH)
end
S.new_channel = new_channel

-- waiter: {task=, sel=, case=}; a select is shared by its waiters and completed once
local function take_waiter(q)
  while true do
    local w = tremove(q, 1)
    if w == nil then return nil end
    if not w.task.dead and not (w.sel and w.sel.done) then return w end
  end
end

local function complete_waiter(w, ch, value, ok)
  if w.sel then
    w.sel.done = true
    wake(w.task, {channel = ch, value = value, ok = ok})
  else
    wake(w.task, value, ok)
  end
end

local function buf_count(ch) return ch.bt - ch.bh + 1 end

-- Fair mailboxes. Once a process's mailbox (its inbox or a listened topic) holds FAIR_AT
-- messages, later ones queue per sender (ch.fq), and receives serve the senders in turn after
-- the shared buffer drains: a flood from one sender delays another sender's message by about
-- FAIR_AT messages plus one per sender with messages waiting, not by the whole flood. Order is
-- kept per sender, which is all Wippy promises: the buffer only holds messages older than any
-- queued per sender, and nothing enters it while ch.fq exists. Small mailboxes never get here.
local FAIR_AT = 64

local function fair_push(ch, key, v)
  local fq = ch.fq
  if not fq then fq = {n = 0, q = {}, ring = {}, rh = 1, rt = 0}; ch.fq = fq end
  local q = fq.q[key]
  if not q then
    q = {h = 1, t = 0}
    fq.q[key] = q
    fq.rt = fq.rt + 1; fq.ring[fq.rt] = key    -- the sender takes its turn after the others
  end
  q.t = q.t + 1; q[q.t] = v
  fq.n = fq.n + 1
end

-- the next sender's oldest message; the sender goes to the back of the ring if it has more
-- (with no other sender waiting, the ring is left as it is)
local function fair_pop(ch)
  local fq = ch.fq
  local ring, rh = fq.ring, fq.rh
  local key = ring[rh]
  local q = fq.q[key]
  local h = q.h
  local v = q[h]
  q[h] = nil; q.h = h + 1
  local n = fq.n - 1
  fq.n = n
  if h >= q.t then
    fq.q[key] = nil; ring[rh] = nil; fq.rh = rh + 1
    if n == 0 then ch.fq = nil end
  elseif fq.rt > rh then
    ring[rh] = nil; fq.rh = rh + 1
    local rt = fq.rt + 1
    fq.rt = rt; ring[rt] = key
  end
  return v
end

-- messages waiting in a channel
local function queued(ch)
  local fq = ch.fq
  return ch.bt - ch.bh + 1 + (fq and fq.n or 0)
end

-- try to send without blocking; returns true when delivered
local function try_send(ch, v)
  if ch.closed then error("send on closed channel", 3) end
  local w = take_waiter(ch.recvq)
  if w then complete_waiter(w, ch, v, true) return true end
  if buf_count(ch) < ch.cap then
    if ch.fq then fair_push(ch, CH, v); return true end   -- (a mailbox's own channel send)
    ch.bt = ch.bt + 1; ch.buf[ch.bt] = v
    return true
  end
  return false
end

local function try_recv(ch)
  if ch.bt >= ch.bh then
    local v = ch.buf[ch.bh]; ch.buf[ch.bh] = nil; ch.bh = ch.bh + 1
    -- a blocked sender can now move its value into the buffer
    local w = take_waiter(ch.sendq)
    if w then
      ch.bt = ch.bt + 1; ch.buf[ch.bt] = w.value
      if w.sel then w.sel.done = true; wake(w.task, {channel = ch, value = nil, ok = true})
      else wake(w.task, true) end
    end
    return true, v, true
  end
  if ch.fq then return true, fair_pop(ch), true end
  local w = take_waiter(ch.sendq)
  if w then
    if w.sel then w.sel.done = true; wake(w.task, {channel = ch, value = nil, ok = true})
    else wake(w.task, true) end
    return true, w.value, true
  end
  if ch.closed then return true, nil, false end
  return false
end

-- Python (and other engines) push into channels without a task context.
S.channel_push = function(ch, v)
  if ch.closed then return false end
  local w = take_waiter(ch.recvq)
  if w then complete_waiter(w, ch, v, true) return true end
  if ch.fq then fair_push(ch, CH, v); return true end
  ch.bt = ch.bt + 1; ch.buf[ch.bt] = v
  return true
end

function CH:send(v)
  if try_send(self, v) then
    if YIELD.f then checkpoint() end
    return true
  end
  local task = current
  self.sendq[#self.sendq + 1] = {task = task, value = v}
  local ok = suspend()
  if ok == nil then error("send on closed channel", 2) end
  return true
end

function CH:receive()
  local got, v, ok = try_recv(self)
  if got then
    if YIELD.f then checkpoint() end
    return v, ok
  end
  self.recvq[#self.recvq + 1] = {task = current}
  return suspend()
end

function CH:close()
  if self.closed then return true end
  self.closed = true
  if self.recvq[1] == nil and self.sendq[1] == nil then return true end   -- no one waits (an exit's inbox)
  local w = take_waiter(self.recvq)
  while w do
    complete_waiter(w, self, nil, false)
    w = take_waiter(self.recvq)
  end
  w = take_waiter(self.sendq)
  while w do
    if w.sel then w.sel.done = true; w.task.dead_err = "send on closed channel"; wake(w.task, nil)
    else wake(w.task, nil) end
    w = take_waiter(self.sendq)
  end
  return true
end

function CH:case_receive() return {ch = self, dir = "recv"} end
function CH:case_send(v) return {ch = self, dir = "send", value = v} end
function CH:is_closed() return self.closed end
function CH:len() return queued(self) end

local function select_(cases)
  if type(cases) ~= "table" then error("channel.select expects a table of cases", 2) end
  local n = #cases
  -- Go picks uniformly among ready cases; start at a rotating offset to stay fair.
  local start = n > 0 and (stats.messages % n) or 0
  for k = 1, n do
    local c = cases[(start + k - 1) % n + 1]
    if type(c) ~= "table" or getmetatable(c.ch) ~= CH then error("channel.select: case " .. k .. " is not a channel case", 2) end
    if c.dir == "recv" then
      local got, v, ok = try_recv(c.ch)
      if got then return {channel = c.ch, value = v, ok = ok} end
    else
      if c.ch.closed then error("send on closed channel", 2) end
      if try_send(c.ch, c.value) then return {channel = c.ch, value = nil, ok = true} end
    end
  end
  if cases.default then return {default = true, ok = true} end
  if n == 0 then error("channel.select with no cases blocks forever", 2) end
  local sel = {done = false}
  local task = current
  for k = 1, n do
    local c = cases[k]
    if c.dir == "recv" then
      c.ch.recvq[#c.ch.recvq + 1] = {task = task, sel = sel}
    else
      c.ch.sendq[#c.ch.sendq + 1] = {task = task, sel = sel, value = c.value}
    end
  end
  local r = suspend()
  if r == nil then error(task.dead_err or "send on closed channel", 2) end
  return r
end
S.select = select_

---------------------------------------------------------------------------
-- deep copy: processes share nothing, so every value crossing a boundary is copied
---------------------------------------------------------------------------
-- Runtime metatables a copy keeps (times, durations, actors...): marked by the runtime through
-- S.keep_on_copy, never by a flag code can put in a metatable of its own, which would carry
-- that code's functions into the receiving process.
local copyable = setmetatable({}, {__mode = "k"})
S.copyable = copyable
function S.keep_on_copy(mt) copyable[mt] = true; return mt end

local PAYLOAD = {}
PAYLOAD.__index = PAYLOAD
PAYLOAD.__name = "payload"
S.PAYLOAD = PAYLOAD

-- Tables one copy may make: a value whose tables share subtables (a DAG) is small in memory but
-- copies to a tree, 2^30 tables for 30 levels of {t, t}.
local MAX_COPY = 250000

local copy
local function copy_table(t, seen, depth)
  if YIELD.f then checkpoint() end   -- a long copy (a send's) is preempted like any loop
  if depth > 128 then error("value nested deeper than 128 levels", 0) end
  local count = (seen.n or 0) + 1
  if count > MAX_COPY then error("value too large to copy (more than " .. MAX_COPY .. " tables)", 0) end
  seen.n = count
  local mt = getmetatable(t)
  if mt == PAYLOAD then return copy(t.v, seen, depth) end
  if mt == CH then   -- channels are shared handles within an engine
    if seen.wire then error("cannot send a channel to another node", 0) end
    return t
  end
  if seen[t] then error("cannot copy a cyclic table", 0) end
  seen[t] = true
  local r = {}
  for k, v in next, t do
    local tk, tv = type(k), type(v)
    if tk == "table" then
      -- (seen.wire: for another node, wire.lua, where keys are scalars)
      if seen.wire then error("cannot send a table key to another node", 0) end
      k = copy_table(k, seen, depth + 1)
    end
    if tv == "table" then r[k] = copy_table(v, seen, depth + 1)
    elseif tv == "function" or tv == "thread" or tv == "userdata" then
      error("cannot send a " .. tv .. " value (field " .. describe(k) .. ")", 0)
    else r[k] = v end
  end
  seen[t] = nil
  if mt ~= nil and (mt == ERR or copyable[mt]) then setmetatable(r, mt) end
  return r
end
copy = function(v, seen, depth)
  local t = type(v)
  if t == "table" then return copy_table(v, seen or {}, depth or 0) end
  if t == "function" or t == "thread" or t == "userdata" then error("cannot send a " .. t .. " value", 0) end
  return v
end
S.copy = copy

-- A call's arguments for another process or function: pack's table is already theirs, so only a
-- table (copied) or a value that cannot cross (copy raises) needs copy. Returns ok, args | error.
-- the types copy works on (copies or refuses); any other value crosses as it is
local NEEDS_COPY = {table = true, ["function"] = true, thread = true, userdata = true}
S.NEEDS_COPY = NEEDS_COPY
function S.pack_copy(...)
  local args = pack(...)
  for i = 1, args.n do
    if NEEDS_COPY[type(args[i])] then return pcall(copy, args) end
  end
  return true, args
end

function PAYLOAD:data() return copy(self.v) end
function PAYLOAD:get_format() return self.format or "lua/any" end
function PAYLOAD:unmarshal() return copy(self.v) end
function PAYLOAD:transcode(fmt) return setmetatable({v = self.v, format = fmt}, PAYLOAD) end
local function new_payload(v) return setmetatable({v = v}, PAYLOAD) end
class(PAYLOAD)
S.new_payload = new_payload

---------------------------------------------------------------------------
-- messages and events
---------------------------------------------------------------------------
local MSG = {}
MSG.__index = MSG
MSG.__name = "message"
function MSG:topic() return self[1] end
function MSG:from() return self[2] end
function MSG:payload() return setmetatable({v = self[3]}, PAYLOAD) end
S.MSG = class(MSG)

local EV_EXIT, EV_CANCEL, EV_LINK_DOWN = "pid.exit", "pid.cancel", "pid.link.down"

local function events_channel(proc)
  local ch = proc.events
  if not ch then ch = new_channel(math.huge); proc.events = ch end
  return ch
end

-- Deliver a message to a local process: a listened topic wins, else the inbox. A mailbox (the
-- inbox, or a topic's channel) holding max_mailbox messages takes no more: the new message is
-- dropped and the sender gets nil plus a LimitExceeded error; the receiver is not touched.
-- Past FAIR_AT waiting messages it queues per sender (fair_push), and a full mailbox keeps a
-- reserve of a tenth of max_mailbox for senders with no queue of their own in it: one sender's
-- flood does not shut the others out.
local function deliver(proc, topic, from, value)
  local l = proc.listeners and proc.listeners[topic]
  local ch = l and l.ch or proc.inbox
  local max = S.max_mailbox
  local fq = ch.fq
  local n = ch.bt - ch.bh + 1
  if fq then n = n + fq.n end
  if max > 0 and n >= max and (not fq or fq.q[from or ""] or n >= max + max // 10) then
    return nil, new_error("LimitExceeded", sformat("mailbox of process %s (%s) is full: message dropped "
      .. "(max_mailbox: %d on host %s)", proc.pid, tostring(proc.entry), max, S.host))
  end
  stats.messages = stats.messages + 1
  local msg = value
  if not l or l.message then msg = setmetatable({topic, from, value}, MSG) end
  if n < FAIR_AT and not fq then S.channel_push(ch, msg)
  elseif not ch.closed then fair_push(ch, from or "", msg) end
  return true
end
S.deliver = deliver

-- Messages from another node in one call: t is flat {pid, topic, from, value, ...} with n slots
-- (in their order of arrival). A message to a process that is gone, or to a full mailbox, is
-- dropped (fire-and-forget); returns how many were dropped for a full mailbox and the first error.
function S.deliver_batch(t, n)
  local procs, full, first = S.procs, 0, nil
  for i = 1, n, 4 do
    local proc = procs[t[i]]
    if proc then
      local ok, err = deliver(proc, t[i + 1], t[i + 2], t[i + 3])
      if not ok then full = full + 1; first = first or err end
    end
  end
  return full, first
end

local function deliver_event(pid, ev)
  local proc = S.procs[pid]
  if proc then S.channel_push(events_channel(proc), ev)
  else P.route_event(pid, ev) end
end
S.deliver_event = deliver_event

---------------------------------------------------------------------------
-- tasks and the run loop
---------------------------------------------------------------------------
local pid_seq = 0
local PID_FORMAT = ("{" .. S.node .. "@" .. S.host .. "|"):gsub("%%", "%%%%") .. "0x%05x}"
local function new_pid()
  pid_seq = pid_seq + 1
  return sformat(PID_FORMAT, pid_seq)
end
S.new_pid = new_pid

local exit_proc, start_task, copy_exit_value  -- forward

local function kill_task(task, reason)
  if task.dead and task.reaped then return end
  task.dead = true
  task.reaped = true
  if task.token then
    local token = task.token
    P.cancel_token(token)
    S.tokens[token] = nil
    task.token = nil
    -- the Python call still holds its arguments, which lupa releases through this coroutine's
    -- lua_State: the coroutine stays alive until Python says the call is over (S.complete)
    S.held[token] = task.co
  end
  if task.timer then task.timer.cancelled = true end
  -- Its coroutine is dropped, not closed: closing would run the task's pending __close
  -- handlers here, outside any budget. Code gets __close on normal exits and errors only.
  -- (Dropped now: a preempted task waits in a run queue, and what it holds must go with the
  -- next collection; the running task's coroutine is still in use.)
  if task ~= current then task.co = nil end
end

S.kill_task = kill_task

-- a task ended (returned, raised, or was killed); decide what it means for its owner
local function task_done(task, ok, ...)
  task.dead = true
  local proc = task.proc
  if proc then proc.tasks[task] = nil end
  if task.on_done then return task.on_done(task, ok, ...) end
  if not proc or proc.dead then return end
  if task.main then
    if ok then
      local v, e = ...
      if proc.monitors and type(v) == "table" and proc.exit_copies == nil then
        -- its watchers' copies are made by the process itself, in one more task: a large value
        -- costs its own budget (the copy is preempted like any loop), not a stall of the node
        proc.exit_copies = false
        for t in next, proc.tasks do kill_task(t) end   -- it ends here: its other tasks go now
        proc.tasks = {}
        start_task(proc, function() copy_exit_value(proc, v); return v, e end, {n = 0}, {main = true})
        return
      end
      if v == nil and e ~= nil then exit_proc(proc, nil, as_error(e))
      else exit_proc(proc, v, nil) end
    else
      exit_proc(proc, nil, ...)
    end
  elseif not ok then
    -- a coroutine.spawn'ed task that crashes takes its process down (let it crash)
    exit_proc(proc, nil, ...)
  end
end

local function failure(task, e)
  if task.kill_reason then return task.kill_reason end
  if e == KILL then return new_error("Canceled", "killed") end
  if type(e) == "string" and e:find("not enough memory", 1, true) then
    -- free what the failed task holds before allocating anything to report it
    task.co = nil
    collectgarbage()
    return new_error("LimitExceeded", sformat("%s ran out of memory: the memory limit of host %s was reached "
      .. "(max_memory: %d bytes)", describe_task(task), S.host, S.max_memory))
  end
  local err = as_error(e)
  -- a dead coroutine keeps its frames, so the traceback still shows where it failed
  if err._stack == nil then err._stack = traceback(task.co, nil, 0) end
  return err
end

-- Run ready tasks until none are left or the budget is spent. Returns whether work remains.
-- A pass ends after `budget` resumes or pass_time seconds, whichever comes first.
-- With a memory limit, the heap is read once after each slice: its growth since the previous
-- reading is added to the slice's process (`grown`, what memory_hog goes by).
-- The heap passed max_memory during a slice: the collector works (for at most ~10ms here, a full
-- collection of a big heap is one long C call) and once a cycle completes with the heap still
-- over, the process that was running (the one that crossed the line) ends; what it held goes
-- with the next cycle. This keeps the heap below the allocator's hard cap, whose reserve is for
-- the runtime's own work (a failed allocation there would abort the node). Until the collector
-- has decided, every pass goes on checking, even with no task to run (the hog may be parked).
local memory_pending = false
local WALL_CPU = 0.00025   -- process CPU between wall clock readings (each crosses into Python)
local BUSY_TAIL = 0.004
local function memory_check()
  local over = over_after_collecting()
  memory_pending = over == nil
  if not over then return end
  local proc = memory_hog()
  if proc and not proc.dead then exit_proc(proc, nil, memory_error(proc)) end
end

-- the loop's clock when the current scheduler pass began (nil between passes): when a process
-- born in a pass started, to within the pass, with no call into Python per spawn
local pass_clock = nil

function S.run(budget)
  fire_timers()
  if memory_pending then memory_check() end
  local budget_end = slice_no + budget
  local t = clock()
  local pass_time = S.pass_time
  local pass_end = t + pass_time
  -- fresh and slow tasks may use one more pass_time, or only BUSY_TAIL while other work waits on
  -- the asyncio loop (other hosts, I/O): a neighbour's round trip crosses the loop several times
  local loop_busy = not P.loop_idle()
  local tail_end = loop_busy and t + BUSY_TAIL or pass_end
  local tail_ran = false   -- one fresh or slow task runs in every pass, so neither starves
  -- the same bounds in wall time, read after every WALL_CPU of slices: on a loaded machine a
  -- pass's CPU time is a fraction of what the rest of the node waits
  local w0 = now()
  pass_clock = w0
  local wall_at = t + WALL_CPU
  local max_memory = S.max_memory
  heap_kib = max_memory > 0 and collectgarbage("count")   -- the last reading
  local slow_open = shead <= stail and now() >= slow_after
  while true do
    local task
    if rhead <= rtail and slice_no < budget_end and t <= pass_end then
      task = ready[rhead]; ready[rhead] = nil; rhead = rhead + 1
    elseif t > tail_end and tail_ran then
      break
    elseif fhead <= ftail then
      task = fresh[fhead]; fresh[fhead] = nil; fhead = fhead + 1
      tail_ran = true
    elseif slow_open and shead <= stail then
      task = slow[shead]; slow[shead] = nil; shead = shead + 1
      tail_ran = true
    else
      break
    end
    if not task.dead then
      slice_no = slice_no + 1   -- (max_instructions is per slice)
      current = task
      slice_start = t
      if YIELD.f then lower_flag() end
      local ok, a, b, c, d
      if task.args then
        local args = task.args
        task.args = nil
        ok, a, b, c, d = co_resume(task.co, unpack(args, 1, args.n))
      else
        local x, y, z = task.a, task.b, task.c
        task.a, task.b, task.c = nil, nil, nil
        ok, a, b, c, d = co_resume(task.co, x, y, z)
      end
      current = nil
      local proc = task.proc
      if proc then proc.steps = proc.steps + 1 end
      local t1 = clock()
      local long = t1 - t > SLOW_SLICE
      if task.busy then
        -- a run without waiting goes on across preemptions (the checkpoint sets busy and
        -- preempted), and ends when the task parks
        if task.preempted then task.preempted, long = false, true else task.busy = nil end
      end
      task.slow = long
      if long then
        -- the pass ends here and the slow queue closes for half the slice (its wall time when
        -- the hook saw it start)
        local t_now = now()
        local wall = timed_slice == slice_no and t_now - task.wstart or t1 - t
        slow_after = t_now + math.min(wall, SLOW_GAP) * 0.5
        slow_open = false
        pass_end, tail_end = t1, t1
      end
      if t1 >= wall_at then
        wall_at = t1 + WALL_CPU
        local w = now() - w0
        if loop_busy and w > BUSY_TAIL then tail_end = t1 end
        if w > pass_time then
          if pass_end > t1 then pass_end = t1 end
          tail_end = t1
        end
      end
      t = t1
      if ok and a == SUSPEND and not task.dead then
        -- parked or preempted: the usual case, nothing to do
      elseif task.kill_reason and not task.reaped then
        -- over a limit, even if the code swallowed the kill (coroutine.close, an error handler)
        kill_task(task)
        task_done(task, false, task.kill_reason)
      elseif not ok then
        task_done(task, false, failure(task, a))
      elseif co_status(task.co) == "dead" then
        task_done(task, true, a, b, c, d)
      elseif a ~= SUSPEND then
        task_done(task, false, new_error("Internal", "coroutine.yield outside of a coroutine"))
      elseif task.dead then
        kill_task(task)
        task_done(task, false, task.kill_reason or new_error("Canceled", "killed"))
      end
      if heap_kib then
        local proc, m1 = task.proc, collectgarbage("count")
        if proc then proc.grown = (proc.grown or 0) + m1 - heap_kib end
        heap_kib = m1
        if m1 * 1024 > max_memory then memory_check(); heap_kib = collectgarbage("count") end
      end
    end
  end
  pass_clock = nil
  gc_tune()
  if rhead > rtail then ready, rhead, rtail = {}, 1, 0 end
  if fhead > ftail then fresh, fhead, ftail = {}, 1, 0 end
  if shead > stail then slow, shead, stail = {}, 1, 0 end
  local more = rhead <= rtail or fhead <= ftail or memory_pending
  if not more and shead > stail then
    fire_timers()
    more = rhead <= rtail   -- a timer that came due during the pass woke a task: nothing else would
  end
  local at = hn > 0 and heap[1].at or nil
  -- the slow queue's window is for the loop's other work: with none, CPU-bound tasks go on
  if shead <= stail and not more and slow_after > 0 and P.loop_idle() then slow_after = 0 end
  if shead <= stail then
    if now() >= slow_after then more = true
    elseif at == nil or slow_after < at then at = slow_after end
  end
  return more, at
end

function S.current() return current end
function S.steps() return slice_no end   -- slices run on this host (coroutine resumes)

-- Resources a module hands to Lua that must not outlive the process holding them (a command, an
-- open transaction): `release(handle)` runs for each one still held when the process ends, however
-- it ends. Returns own(handle) and disown(handle), both for the current process.
function S.process_resources(release)
  local held = setmetatable({}, {__mode = "k"})   -- Lua process -> {handle = true}
  local key = {}
  local function own(handle)
    local proc = current and current.proc
    if not proc then return end
    local handles = held[proc]
    if not handles then
      handles = {}
      held[proc] = handles
      proc.exit_waiters = proc.exit_waiters or {}
      proc.exit_waiters[key] = function()   -- never raises: the rest of the exit must run
        for h in next, handles do pcall(release, h) end
      end
    end
    handles[handle] = true
  end
  local function disown(handle)
    local handles = current and current.proc and held[current.proc]
    if handles then handles[handle] = nil end
  end
  return own, disown
end

-- start a task: fn runs inside a fresh coroutine with the given arguments
start_task = function(proc, fn, args, fields)
  local task = fields or {}
  task.co = new_co(fn)
  task.proc = proc
  task.args = args
  if proc then proc.tasks[task] = true end
  ftail = ftail + 1
  fresh[ftail] = task
  return task
end
S.start_task = start_task

---------------------------------------------------------------------------
-- Python awaits: a task parks on a token until Python completes it
---------------------------------------------------------------------------
S.tokens = {}
S.held = {}   -- token -> coroutine of a killed task whose Python call has not ended yet
function S.await_token(token)
  local task = current
  task.token = token
  S.tokens[token] = task
  local a, b, c = suspend()
  return a, b, c
end

function S.complete(token, a, b, c)
  S.held[token] = nil
  local task = S.tokens[token]
  if task == nil then return false end
  S.tokens[token] = nil
  task.token = nil
  wake(task, a, b, c)
  return true
end

---------------------------------------------------------------------------
-- processes
---------------------------------------------------------------------------
local function get_proc(pid) return S.procs[pid] end
S.get_proc = get_proc

exit_proc = function(proc, value, err)
  if proc.dead then return end
  proc.dead = true
  S.procs[proc.pid] = nil
  stats.exited = stats.exited + 1
  local tasks = proc.tasks   -- (usually empty: an ended main task has left it)
  if next(tasks) ~= nil then
    for task in next, tasks do kill_task(task) end
    proc.tasks = {}
  end
  if proc.timers then   -- timers and tickers die with it
    for t in next, proc.timers do if type(t) == "table" then t.cancelled = true end end
  end
  if proc.inbox then proc.inbox:close() end
  local pid = proc.pid
  if proc.monitors then
    -- copies made by the process itself (copy_exit_value) when it returned; a copy made here
    -- runs outside any budget (a watcher added since, a value returned some other way)
    local copies, i = proc.exit_copies, 0
    for watcher in pairs(proc.monitors) do
      i = i + 1
      local ok, v
      if type(copies) == "string" then ok, v = false, copies
      elseif copies and copies[i] ~= nil then ok, v = true, copies[i]
      else ok, v = pcall(copy, value) end
      local e = err
      if not ok then
        e = e or new_error("Invalid", "process result could not be delivered: " .. describe(v))
        v = nil
      end
      deliver_event(watcher, {kind = EV_EXIT, type = EV_EXIT, from = pid, result = {value = v, error = e}})
    end
  end
  if proc.links then
    for other in pairs(proc.links) do
      local o = S.procs[other]
      if o then o.links[pid] = nil end
      if err then
        if o then S.link_down(o, pid, err)
        else P.route_event(other, {kind = EV_LINK_DOWN, type = EV_LINK_DOWN, from = pid, result = {error = err}}) end
      elseif not o then
        P.route_unlink(other, pid)
      end
    end
  end
  if proc.exit_waiters then
    for _, w in pairs(proc.exit_waiters) do w(value, err) end
  end
  if proc.named then P.on_exit(pid) end
end
S.exit_proc = exit_proc

-- A process's result copied for each of its watchers (in a task of the process); on failure,
-- exit_copies is the error's text.
copy_exit_value = function(proc, v)
  local task = current
  local copies = {}
  proc.exit_copies = copies
  local ok, err = pcall(function()
    while true do   -- watchers may come while the copy is preempted
      local n = 0
      for _ in next, proc.monitors do n = n + 1 end
      if #copies >= n then return end
      copies[#copies + 1] = copy(v)
    end
  end)
  if not ok then
    if err == KILL or task.dead then error(err, 0) end
    proc.exit_copies = describe(err)
  end
end

-- a linked process failed: trap it as an event, or go down with it
function S.link_down(proc, from, err)
  if proc.dead then return end
  if proc.trap_links then
    S.channel_push(events_channel(proc), {kind = EV_LINK_DOWN, type = EV_LINK_DOWN, from = from, result = {error = err}})
  else
    exit_proc(proc, nil, new_error("LinkDown", "linked process " .. from .. " failed: " .. tostring(err), false, nil, nil))
  end
end

-- create a process record and its main task; `main_fn(proc, ...)` is the body
function S.create_process(entry_id, main_fn, args, opts)
  if S.max_processes > 0 and stats.spawned - stats.exited >= S.max_processes then
    return nil, new_error("LimitExceeded", sformat("cannot spawn %s: host %s is at its limit of %d processes "
      .. "(max_processes)", tostring(entry_id), S.host, S.max_processes))
  end
  local max_memory = S.max_memory   -- (over_memory, inline: a spawn's path is hot)
  if max_memory > 0 and collectgarbage("count") * 1024 > max_memory then   -- no collection here: the slice's end collects, once
    return nil, new_error("LimitExceeded", sformat("cannot spawn %s: host %s is over its memory limit "
      .. "(max_memory: %d bytes)", tostring(entry_id), S.host, S.max_memory))
  end
  local pid = opts and opts.pid or new_pid()
  local proc = {pid = pid, entry = entry_id, tasks = {}, inbox = new_channel(math.huge),
                ctx = opts and opts.ctx, actor = opts and opts.actor, scope = opts and opts.scope,
                steps = 0, born = pass_clock or now()}   -- born: monotonic seconds (system.hosts.processes)
  S.procs[pid] = proc
  stats.spawned = stats.spawned + 1
  proc.main_task = start_task(proc, main_fn, args, {main = true, ctx = proc.ctx, actor = proc.actor, scope = proc.scope})
  return proc
end

function S.cancel(pid, from, reason)
  local proc = S.procs[pid]
  if not proc then return false end
  S.channel_push(events_channel(proc), {kind = EV_CANCEL, type = EV_CANCEL, from = from, reason = reason})
  return true
end

function S.terminate(pid, reason)
  local proc = S.procs[pid]
  if not proc then return false end
  exit_proc(proc, nil, new_error("Terminated", reason or "terminated"))
  return true
end

S.events_channel = events_channel
S.EV = {EXIT = EV_EXIT, CANCEL = EV_CANCEL, LINK_DOWN = EV_LINK_DOWN}

return S
