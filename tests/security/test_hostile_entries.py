"""Hostile entries: each attack runs as a process on the same host as a long-lived victim
process while an HTTP endpoint of the same node is probed. Every attack must end only its own
process, with the expected error, or be refused; the victim and HTTP keep answering throughout.
Latencies are printed (`pytest -s`) rather than asserted: the machine may be loaded."""
from __future__ import annotations

import re

import pytest
import pytest_asyncio

from wippy.engine.errors import WippyError
from tests.security.harness import HOST, HostileApp

pytestmark = pytest.mark.asyncio(loop_scope="module")

LOOP = "while true do end"
SLICE = r"slice time limit|busy time limit"
# preempted like any loop, ended by busy_timeout: the code runs where a yield is possible
PREEMPTED = r"busy time limit"
# code that C calls where no yield is possible, ended a quarter of slice_timeout after its
# preemption was due
NOYIELD = r"slice time limit .*where it cannot yield"


class A:
    """One attack: Lua source of a process, modules it may require, what must come of it:
    `error` a regex its error must match, or `value` what it must return."""

    def __init__(self, name, source, *, error=None, value=None, modules=(), either=False):
        self.name, self.source, self.error, self.value = name, source, error, value
        self.modules, self.either = list(modules), either


ATTACKS = [
    # ---------------------------------------------------------- code outside every budget
    A("tostring_loop_error", f"function main() error(setmetatable({{}}, {{__tostring = function() {LOOP} end}})) end",
      error=r"\(table value\)"),
    A("index_loop_fake_error", f"function main() error(setmetatable({{}}, {{__index = function() {LOOP} end}})) end",
      error=r"\(table value\)"),
    A("name_and_tostring_loop_error", f"""function main()
        error(setmetatable({{_message = "x"}}, {{__name = "error", __tostring = function() {LOOP} end}})) end""",
      error=r"\(table value\)|^x$"),
    A("error_with_loopy_message", f"""function main()
        local e = errors.new("boom"); e._message = setmetatable({{}}, {{__tostring = function() {LOOP} end}})
        error(e) end""", error=r"table value"),
    A("returned_loopy_error", f"function main() return nil, setmetatable({{}}, {{__tostring = function() {LOOP} end}}) end",
      error=r"\(table value\)"),
    A("close_loop_on_slice_kill", f"""function main()
        local guard <close> = setmetatable({{}}, {{__close = function() {LOOP} end}})
        {LOOP} end""", error=SLICE),
    A("close_loop_on_terminate", """local time = require("time")
        function main()
          local child = process.spawn("app:closer", "app:procs")
          time.sleep("20ms")
          process.terminate(child)
          time.sleep("20ms")
          return "terminated" end""", modules=["time"], value="terminated"),
    A("close_loop_on_error", f"""function main()
        local guard <close> = setmetatable({{}}, {{__close = function() {LOOP} end}})
        error("plain") end""", error=r"plain"),
    A("close_loop_in_pcall", f"""function main()
        pcall(function() local g <close> = setmetatable({{}}, {{__close = function() {LOOP} end}}); error("x") end)
        end""", error=SLICE),
    A("gc_finalizer", f"function main() setmetatable({{}}, {{__gc = function() {LOOP} end}}) end",
      error=r"__gc finalizers are not allowed"),
    A("gc_flag_then_function", f"""function main()
        local mt = {{__gc = true}}; setmetatable({{}}, mt); mt.__gc = function() {LOOP} end end""",
      error=r"__gc finalizers are not allowed"),
    A("catastrophic_find", 'function main() return string.find(string.rep("a", 60), string.rep("a*", 12) .. "b") end',
      error=SLICE),
    A("catastrophic_match", 'function main() return string.match(string.rep("a", 60), string.rep("a*", 12) .. "b") end',
      error=SLICE),
    A("catastrophic_gmatch", 'function main() for x in string.gmatch(string.rep("a", 60), string.rep("a-", 12) .. "b") do end end',
      error=SLICE),
    A("catastrophic_gsub", 'function main() return string.gsub(string.rep("a", 60), string.rep("a?", 30) .. "b", "") end',
      error=SLICE),
    A("catastrophic_method_call", 'function main() return (string.rep("a", 60)):find(string.rep("a*", 12) .. "b") end',
      error=SLICE),
    A("quadratic_lazy_find", 'function main() return string.find(string.rep("a", 2000000), ".-b") end',
      error=SLICE),
    A("balanced_scan", 'function main() return string.find(string.rep("(", 2000000), "%b()") end', error=SLICE),
    A("concat_huge", """function main()
        local big = string.rep("x", 1024 * 1024); local t = {}
        for i = 1, 80 do t[i] = big end
        return #table.concat(t) end""", error=r"table.concat result larger than"),
    A("gsub_huge_replacement", """function main()
        return #string.gsub(string.rep("x", 100000), "x", string.rep("y", 1000)) end""",
      error=r"gsub result larger than|" + SLICE),
    A("rep_huge", 'function main() return #string.rep("x", 1e12) end', error=r"string.rep result larger than"),
    A("rep_empty_many", 'function main() return #string.rep("", 1e15) end', error=r"string.rep result larger than"),
    A("rep_method_huge", 'function main() return #("ab"):rep(1e11, ",") end', error=r"string.rep result larger than"),
    A("sort_huge", """function main()
        local t = {}; for i = 1, 2000000 do t[i] = (i * 7919) % 1000003 end
        table.sort(t); return "sorted" end""", either=True),
    A("move_huge", "function main() table.move({}, 1, 1e12, 2) end", error=SLICE),
    A("load_huge_chunk", """function main()
        local f, err = load("return 1 " .. string.rep(" ", 5 * 1024 * 1024)); return err end""",
      value="chunk larger than 4194304 bytes"),
    A("load_endless_reader", """function main()
        local f, err = load(function() return "      " .. string.rep(" ", 65536) end); return err end""",
      value="chunk larger than 4194304 bytes"),
    A("busy_loop", f"function main() {LOOP} end", error=SLICE),
    A("busy_loop_in_pcall", f"function main() while true do pcall(function() {LOOP} end) end end", error=SLICE),
    A("busy_loop_in_xpcall_handler", f"function main() xpcall(error, function() {LOOP} end, 'x') end", error=PREEMPTED),
    A("busy_loop_in_coroutine", f"function main() coroutine.wrap(function() {LOOP} end)() end", error=SLICE),
    A("busy_loop_in_spawned_task", f"""function main()
        coroutine.spawn(function() {LOOP} end); process.inbox():receive() end""", error=SLICE),
    A("stack_overflow", "local function f() return 1 + f() end function main() return f() end", error=r"stack overflow|" + SLICE),
    A("tostring_loop", f"function main() return tostring(setmetatable({{}}, {{__tostring = function() {LOOP} end}})) end",
      error=PREEMPTED),
    A("format_loop", f"function main() return string.format('%s', setmetatable({{}}, {{__tostring = function() {LOOP} end}})) end",
      error=PREEMPTED),
    A("lt_loop_in_sort", f"""function main()
        local mt = {{__lt = function() {LOOP} end}}
        local t = {{setmetatable({{}}, mt), setmetatable({{}}, mt), setmetatable({{}}, mt)}}
        table.sort(t) end""", error=PREEMPTED),
    # callbacks and metamethods that C calls: the sandbox runs them from Lua (a Lua sort, gsub
    # loop, tostring, xpcall, load reader), or, where C still calls them, ends them quickly
    A("sort_comparator_loop", f"function main() table.sort({{3, 2, 1}}, function() {LOOP} end) end",
      error=PREEMPTED),
    A("sort_comparator_loop_large", f"""function main()
        local t = {{}}; for i = 1, 50000 do t[i] = -i end
        local n = 0
        table.sort(t, function(a, b) n = n + 1; if n > 100000 then {LOOP} end; return a < b end) end""",
      error=PREEMPTED),
    A("sort_len_loop", f"function main() table.sort(setmetatable({{}}, {{__len = function() {LOOP} end}})) end",
      error=PREEMPTED),
    A("gsub_function_loop", f'function main() return string.gsub("abc", "%w", function() {LOOP} end) end',
      error=PREEMPTED),
    A("gsub_method_function_loop", f'function main() return ("abc"):gsub("(%w)", function() {LOOP} end) end',
      error=PREEMPTED),
    A("gsub_table_index_loop", f"""function main()
        return string.gsub("abc", "%w", setmetatable({{}}, {{__index = function() {LOOP} end}})) end""",
      error=PREEMPTED),
    A("load_reader_loop", f"function main() return load(function() {LOOP} end) end", error=PREEMPTED),
    A("load_endless_number_reader", "function main() return select(2, load(function() return 2^53 end)) end",
      value="chunk larger than 4194304 bytes"),
    A("tostring_method_format_loop", f"""function main()
        return ("%5s|%s"):format("x", setmetatable({{}}, {{__tostring = function() {LOOP} end}})) end""",
      error=PREEMPTED),
    A("xpcall_handler_loop_after_error_object", f"""function main()
        return xpcall(function() error({{}}) end, function(e) {LOOP} end) end""", error=PREEMPTED),
    A("ipairs_index_loop", f"""function main()
        for _ in ipairs(setmetatable({{}}, {{__index = function() {LOOP} end}})) do end end""", error=NOYIELD),
    A("unpack_index_loop", f"""function main()
        return table.unpack(setmetatable({{}}, {{__index = function() {LOOP} end}}), 1, 3) end""", error=NOYIELD),
    A("insert_len_loop", f"""function main()
        table.insert(setmetatable({{}}, {{__len = function() {LOOP} end}}), 1) end""", error=NOYIELD),
    A("remove_index_loop", f"""function main()
        table.remove(setmetatable({{}}, {{__len = function() return 2 end, __index = function() {LOOP} end}})) end""",
      error=NOYIELD),
    A("concat_index_loop_on_second_read", f"""function main()
        local reads = 0
        local t = setmetatable({{}}, {{__index = function() reads = reads + 1; if reads > 3 then {LOOP} end; return "x" end}})
        return table.concat(t, ",", 1, 3) end""", error=NOYIELD),
    A("json_encode_index_loop", f"""local json = require("json")
        function main() return json.encode(setmetatable({{1, 2}}, {{__index = function() {LOOP} end,
                                                                      __len = function() {LOOP} end}})) end""",
      modules=["json"], either=True),
    A("json_encode_tostring_loop", f"""local json = require("json")
        function main() return json.encode({{setmetatable({{}}, {{__tostring = function() {LOOP} end}})}}) end""",
      modules=["json"], either=True),
    # code loaded at run time gets yield points like entry code: preempted, not a frozen slice
    A("load_loop", f'function main() return load("{LOOP}")() end', error=PREEMPTED),
    A("load_loop_in_function", """function main()
        local f = load("local function spin(n) while true do n = n + 1 end end return spin")()
        return f(0) end""", error=PREEMPTED),
    A("load_repeat_loop", 'function main() return load("repeat local x = 1 until false")() end', error=PREEMPTED),
    A("load_goto_loop", 'function main() return load("::top:: goto top")() end', error=PREEMPTED),
    A("load_tail_recursion", 'function main() return load("local function r() return r() end return r()")() end',
      error=PREEMPTED),
    A("load_loop_in_long_string_trick", """function main()
        return load("local s = [[ ]] .. 'do' while true do end")() end""", error=PREEMPTED),
    A("load_reserved_name", 'function main() return select(2, load("local __wy = {f = false} while true do end")) end',
      value="the name __wy is reserved"),
    # "\r" ends a short comment for Lua's lexer: load's scan must see what follows as code
    A("load_reserved_name_after_cr", 'function main() return select(2, load("-- x\\r return __wy")) end',
      value="the name __wy is reserved"),
    A("load_loop_after_cr_comment", f'function main() return load("-- x\\r {LOOP}")() end', error=PREEMPTED),
    A("eval_reserved_name_after_cr", """local eval = require("eval_runner")
        function main() return tostring(select(2, eval.run({source = "-- x\\r return __wy"}))) end""",
      modules=["eval_runner"], value="compile: the name __wy is reserved"),
    A("load_loop_with_env", f"""function main()
        return load("{LOOP}", "=x", "t", {{}})() end""", error=PREEMPTED),
    A("eval_loop", f"""local eval = require("eval_runner")
        function main() return eval.run({{source = "{LOOP}"}}) end""", modules=["eval_runner"], error=PREEMPTED),
    A("eval_loop_in_method", f"""local eval = require("eval_runner")
        function main() return eval.run({{source = "function go() {LOOP} end", method = "go"}}) end""",
      modules=["eval_runner"], error=PREEMPTED),
    A("eval_load_loop", f"""local eval = require("eval_runner")
        function main() return eval.run({{source = "return load('{LOOP}')()"}}) end""",
      modules=["eval_runner"], error=PREEMPTED),
    # modules whose work grows with hostile input: linear by design (RE2), or read off the loop
    # in a worker thread with a time limit (yaml)
    A("regexp_catastrophic_backtracking", """local text = require("text")
        function main()
          local rx = text.regexp.compile("(a*)*(a|aa)*b")
          return {rx:match_string(string.rep("a", 1000000)), rx:match_string(string.rep("a", 30) .. "b")} end""",
      modules=["text"], value=[False, True]),
    A("yaml_billion_laughs", """local yaml = require("yaml")
        function main()
          local doc = {"a: &a [x,x,x,x,x,x,x,x,x,x]"}
          for i = 1, 8 do
            local p, c = string.char(96 + i), string.char(97 + i)
            doc[#doc + 1] = c .. ": &" .. c .. " [" .. string.rep("*" .. p, 10, ",") .. "]"
          end
          local v, err = yaml.decode(table.concat(doc, "\\n")); return tostring(err) end""",
      modules=["yaml"], value=re.compile(r"expands to too many nodes")),
    A("yaml_large_document", """local yaml = require("yaml")
        function main()
          local t = {}
          for i = 1, 300000 do t[i] = "k" .. i .. ": [1, 2, {a: b, c: [d, e]}]" end
          local v, err = yaml.decode(table.concat(t, "\\n")); return v and "read" or tostring(err) end""",
      modules=["yaml"], value=re.compile(r"^read$|took longer than 5s")),
    A("yaml_deep_nesting", """local yaml = require("yaml")
        function main()
          local v, err = yaml.decode(string.rep("[", 100000) .. string.rep("]", 100000)); return tostring(err) end""",
      modules=["yaml"], value=re.compile(r"decode failed")),
    A("eq_loop", f"""function main()
        local mt = {{__eq = function() {LOOP} end}}
        return setmetatable({{}}, mt) == setmetatable({{}}, mt) end""", error=SLICE),
    A("concat_loop", f"function main() return setmetatable({{}}, {{__concat = function() {LOOP} end}}) .. 'x' end",
      error=SLICE),
    A("len_loop", f"function main() return #setmetatable({{}}, {{__len = function() {LOOP} end}}) end", error=SLICE),
    A("call_loop", f"function main() return setmetatable({{}}, {{__call = function() {LOOP} end}})() end", error=SLICE),
    A("index_loop_in_exit_value", f"function main() return setmetatable({{}}, {{__index = function() {LOOP} end}}) end",
      value=[]),
    A("pairs_loop_in_exit_value", f"function main() return setmetatable({{a = 1}}, {{__pairs = function() {LOOP} end}}) end",
      value={"a": 1}),
    A("loopy_message_to_victim", f"""function main()
        process.send("victim", "ping", setmetatable({{}}, {{__index = function() {LOOP} end, __len = function() {LOOP} end}}))
        return "sent" end""", value="sent"),
    A("coroutine_close_loop", f"""function main()
        local co = coroutine.create(function() local g <close> = setmetatable({{}}, {{__close = function() {LOOP} end}}); coroutine.yield() end)
        coroutine.resume(co); coroutine.close(co) end""", error=SLICE),
    A("full_gc_loop", "function main() while true do collectgarbage() collectgarbage('step', 1e9) end end", error=SLICE),
    A("gc_control_refused", "function main() collectgarbage('stop') end", error=r"is not allowed"),
    A("dag_exit_value", "function main() local t = {} for i = 1, 40 do t = {t, t} end return t end",
      error=r"too large to copy|result could not be delivered"),
    A("dag_message", """function main()
        local t = {} for i = 1, 40 do t = {t, t} end
        local ok, err = process.send("victim", "ping", t); return tostring(err) end""",
      value=re.compile(r"too large to copy"), either=True),
    A("dag_to_other_host", """function main()
        local t = {} for i = 1, 40 do t = {t, t} end
        local pid = process.spawn("app:sleeper", "app:probing")
        local ok, err = process.send(pid, "x", t); process.terminate(pid); return tostring(err) end""",
      value=re.compile(r"too large"), either=True),
    A("dag_spawn_args", """function main()
        local t = {} for i = 1, 40 do t = {t, t} end
        local pid, err = process.spawn("app:sleeper", "app:probing", t); return tostring(err) end""",
      value=re.compile(r"too large"), either=True),
    # ---------------------------------------------------------- shared writable state
    A("channel_metatable", """function main()
        local ch = channel.new()
        assert(ch.__index == nil and getmetatable(ch) == false)
        return pcall(function() ch.__index.receive = function() return "stolen" end end) end""", value=False),
    A("channel_methods_shared", """function main()
        local a = channel.new(1); a.send = function() return "mine" end
        local b = channel.new(1); b:send(7); return b:receive() end""", value=7),
    A("errors_metatable", """function main()
        local e = errors.new("x"); return {e.__index == nil, getmetatable(e) == false, e.__tostring == nil} end""",
      value=[True, True, True]),
    A("time_metatables", """local time = require("time")
        function main()
          return {time.now().__index == nil, time.utc.__index == nil, time.parse_duration("1s").__index == nil,
                  pcall(rawset, time.utc, "name", "Evil"), time.utc:string()} end""",
      modules=["time"], value=[True, True, True, False, "UTC"]),
    A("message_metatable", """function main()
        process.send(process.pid(), "t", 1)
        local m = process.inbox():receive()
        return {m.__index == nil, m:payload().__index == nil, getmetatable(m) == false} end""",
      value=[True, True, True]),
    A("string_dump_through_metatable", """function main()
        return {("").dump == nil, string.dump == nil, getmetatable("") == false} end""", value=[True, True, True]),
    A("string_metatable_write", """function main() return pcall(function() getmetatable("").__index = {} end) end""",
      value=False),
    A("module_table_write", """function main()
        local ok1 = pcall(function() channel.new = function() end end)
        local ok2 = pcall(rawset, channel, "new", print)
        local ok3 = pcall(setmetatable, channel, {})
        local ok4 = pcall(function() string.find = nil end)
        local ok5 = pcall(function() process.send = nil end)
        return {ok1, ok2, ok3, ok4, ok5} end""", value=[False, False, False, False, False]),
    A("copy_keep_carries_no_function", """function main()
        local evil = setmetatable({v = 1}, {__copy_keep = true, __index = function() return "evil" end})
        process.send(process.pid(), "t", evil)
        local got = process.inbox():receive():payload():data()
        return {got.v, got.missing == nil, getmetatable(got) == nil} end""", value=[1, True, True]),
    A("copy_keep_in_exit_value", """function main()
        return setmetatable({v = 2}, {__copy_keep = true, __tostring = function() while true do end end}) end""",
      value={"v": 2}),
    A("globals_stay_in_process", """function main()
        _G.channel = nil; process = nil; string = nil
        return "cleared" end""", value="cleared"),
    A("no_debug_io_os", """function main()
        return {debug == nil, io == nil, os.exit == nil, os.getenv == nil, package == nil, dofile == nil} end""",
      value=[True, True, True, True, True, True]),
    A("binary_chunk_refused", """function main()
        local _, e1 = load("\\27Lua", "x", "b"); local _, e2 = load("\\27Lua")
        return {e1, e2} end""", value=["only text chunks can be loaded", "binary chunks are not allowed"]),
    A("require_not_granted", 'function main() return require("fs") end', error=r"not available"),
    A("protected_setmetatable_on_location", """local time = require("time")
        function main() return pcall(setmetatable, time.utc, {}) end""", modules=["time"], value=False),
    A("scope_self_escalation", """local security = require("security")
        function main()
          local sc = security.scope()
          if sc then sc._ids[#sc._ids + 1] = "app:admin" end
          local a = security.actor()
          if a then a._id = "admin" end
          local sc2, a2 = security.scope(), security.actor()
          return {sc2 == nil or not sc2:contains("app:admin"), a2 == nil or a2:id() ~= "admin"} end""",
      modules=["security"], value=[True, True]),
    # ---------------------------------------------------------- limits
    A("spawn_bomb", """function main()
        local failed, err = 0, nil
        for i = 1, 5000 do
          local pid, e = process.spawn("app:sleeper", "app:procs")
          if not pid then failed = failed + 1; err = e end
        end
        return {failed > 0, tostring(err)} end""", value=[True, re.compile(r"at its limit of 3000 processes \(max_processes\)")]),
    A("exponential_spawn_bomb", """local time = require("time")
        function main() process.spawn("app:bomb", "app:procs"); time.sleep("1s"); return "lit" end""",
      modules=["time"], value="lit"),
    A("mailbox_flood", """function main()
        local sink = process.spawn("app:deaf", "app:procs")
        local refused, err = 0, nil
        for i = 1, 8000 do
          local ok, e = process.send(sink, "flood", i)
          if not ok then refused = refused + 1; err = e end
        end
        process.terminate(sink)
        return {refused > 0, tostring(err)} end""",
      value=[True, re.compile(r"mailbox of process .* is full.*max_mailbox: 5000")]),
    A("mailbox_flood_victim", """function main()
        local refused = 0
        for i = 1, 20000 do if not process.send("victim", "flood", i) then refused = refused + 1 end end
        return "flooded" end""", value="flooded"),
    A("timer_flood", """local time = require("time")
        function main() local t = {} for i = 1, 100000 do t[i] = time.after("1h") end end""",
      modules=["time"], error=r"timer limit of host app:procs \(max_timers: 200\)"),
    A("ticker_flood", """local time = require("time")
        function main() for i = 1, 100000 do time.ticker("1h") end end""",
      modules=["time"], error=r"max_timers: 200"),
    A("timers_in_tasks_flood", """local time = require("time")
        function main() for i = 1, 1000 do coroutine.spawn(function() time.sleep("1h") end) end
          process.inbox():receive() end""", modules=["time"], error=r"max_timers: 200"),
    A("memory_bomb_table", """local time = require("time")
        function main() local t = {} for i = 1, 1e9 do t[i] = {i, i, i}; if i % 10000 == 0 then time.sleep("1ms") end end end""",
      # near the cap a garbage-collection step over the large heap can outlast the slice limit
      # before the allocation that passes the cap: either limit ends the attacker
      modules=["time"], error=r"memory limit of host app:procs|ran out of memory|slice time limit"),
    A("memory_bomb_string", """function main() local s = "x" while true do s = s .. s end end""",
      error=r"memory|larger than"),
    A("memory_bomb_in_many_processes", """function main()
        for i = 1, 4 do process.spawn_monitored("app:hog", "app:procs") end
        local limited = 0
        for i = 1, 4 do
          local ev = process.events():receive()
          if ev.result.error and ev.result.error:kind() == "LimitExceeded" then limited = limited + 1 end
        end
        return limited end""", value=4),
    # half a second of calls into Python (hash digests are computed there): each call is a
    # preemption point, so the process is rescheduled past half a slice instead of ended
    A("python_calls_for_five_slices", """local hash = require("hash")
        function main()
          local t0, n = os.clock(), 0
          while os.clock() - t0 < 0.5 do hash.sha256("x" .. n); n = n + 1 end
          return "preempted, not ended" end""", modules=["hash"], value="preempted, not ended"),
    # long single calls into C (key derivation, compression of a large input) run in a worker
    # thread while the process is parked: the loop never blocks on them
    A("pbkdf2_many_iterations", """local crypto = require("crypto")
        function main() return #crypto.pbkdf2("pw", "salt", 2000000, 32) end""", modules=["crypto"], value=32),
    A("compress_large_slow_level", """local compress = require("compress")
        function main()
          local data = string.rep("abcdefghij", 800000) .. string.rep("xyz", 500000)
          local z = compress.brotli.encode(data, {level = 11})
          return #compress.brotli.decode(z, {max_size = 16 * 1024 * 1024}) end""", modules=["compress"],
      value=9500000),
    A("slice_starvation", """function main()
        for i = 1, 8 do process.spawn_monitored("app:hogger", "app:procs") end
        for i = 1, 8 do process.events():receive() end
        return "starved nobody" end""", value="starved nobody"),
]

# helpers the attacks spawn
HELPERS = {
    "closer": f"""function main()
        local guard <close> = setmetatable({{}}, {{__close = function() {LOOP} end}})
        process.inbox():receive() end""",
    "sleeper": "function main() process.inbox():receive() end",
    # never reads its inbox (the flooder may be preempted while it sends)
    "deaf": "function main() channel.new():receive() end",
    "bomb": """function main()
        for i = 1, 2 do process.spawn("app:bomb", "app:procs") end
        process.inbox():receive() end""",
    "hog": """local time = require("time")
        function main()
          local t = {}
          for i = 1, 1e9 do t[i] = string.rep("y", 100) .. i; if i % 20000 == 0 then time.sleep("1ms") end end
        end""",
    # stays just under the slice limit, yields, and again: the pass is bounded by time
    "hogger": """function main()
        local time = require("time")
        for round = 1, 5 do
          local t0 = os.clock()
          while os.clock() - t0 < 0.07 do end
          time.sleep("1ms")
        end end""",
}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hostile(tmp_path_factory):
    app = HostileApp(tmp_path_factory.mktemp("hostile"))
    await app.start(evil=EVIL_HANDLER)
    for name, src in HELPERS.items():
        await app.add_process(name, src, modules=["time"])
    yield app
    print("\nneighbours' worst latency over usual, per attack:\n" + app.latency_table())
    await app.stop()


def _matches(expected, got) -> bool:
    if isinstance(expected, re.Pattern):
        return isinstance(got, str) and expected.search(got) is not None
    if isinstance(expected, list):
        return isinstance(got, list) and len(got) == len(expected) and all(map(_matches, expected, got))
    return expected == got


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_attack_ends_only_the_attacker(hostile, attack):
    await run_attack(hostile, attack)


async def run_attack(hostile: HostileApp, attack: A) -> None:
    """Run one attack while probing; assert its outcome and that the neighbours kept answering."""
    entry = await hostile.add_process("attack_" + attack.name, attack.source, attack.modules)
    outcome, probes = await hostile.measured(lambda: hostile.node.exec(entry, HOST, []))
    print(f"\n{attack.name}: {outcome!r:.200}\n  {hostile.record(attack.name, probes)}")
    assert not probes.failures, probes.failures
    assert probes.process_ms and probes.http_ms
    if attack.error is not None:
        assert isinstance(outcome, WippyError), f"expected an error, got {outcome!r}"
        assert re.search(attack.error, str(outcome)), str(outcome)
    elif attack.either:
        if isinstance(outcome, WippyError):
            assert outcome.kind == "LimitExceeded" or re.search(SLICE, str(outcome)), str(outcome)
        elif attack.value is not None:
            assert _matches(attack.value, outcome), outcome
    else:
        assert not isinstance(outcome, BaseException), f"attack failed: {outcome!r}"
        assert _matches(attack.value, outcome), outcome
    # the host is back to the victim plus what it started itself
    await hostile.settle()


EVIL_HANDLER = """\
local http = require("http")
local function handler()
  local res = http.response()
  local req = http.request()
  local tried = {}
  tried[#tried + 1] = res.__index == nil
  tried[#tried + 1] = req.__index == nil
  tried[#tried + 1] = getmetatable(res) == false
  tried[#tried + 1] = pcall(function() res.__index.write = function() end end)
  tried[#tried + 1] = pcall(function() http.STATUS.OK = 500 end)
  res.write = function() end   -- only this response object
  res:set_status(200)
  http.response():write("evil done")
end
return {handler = handler}
"""


async def test_http_handler_cannot_rewrite_other_endpoints(hostile):
    async def attack():
        async with hostile.session.get(f"http://127.0.0.1:{hostile.port}/evil") as r:
            return r.status
    outcome, probes = await hostile.measured(attack)
    print(f"\nhttp evil: {outcome!r}\n  {hostile.record('http_evil', probes)}")
    assert not probes.failures, probes.failures
    assert outcome in (200, 500)
