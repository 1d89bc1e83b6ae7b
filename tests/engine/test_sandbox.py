"""The sandbox (reference §2.1) and isolation between processes."""
import pytest

from wippy.engine.errors import WippyError


@pytest.mark.parametrize("expr", [
    "io", "os.execute", "os.exit", "os.getenv", "os.remove", "debug", "package", "loadfile", "dofile",
    "string.dump", "require == nil and nil or python", "collectgarbage and nil",
])
async def test_excluded_globals_are_absent(app, expr):
    assert await app.run(f"function main() return {expr} == nil end") is True


async def test_require_of_ungranted_module_fails(app):
    with pytest.raises(WippyError, match="not available to app:main"):
        await app.run('local t = require("time")\nfunction main() return 1 end')


async def test_require_of_granted_module_works(app):
    assert await app.run('local t = require("time")\nfunction main() return t.SECOND end', modules=["time"]) == 10**9


async def test_imports_alias_loads_a_library(app):
    app.add("app:helpers", "library.lua", "local M = {}\nfunction M.double(x) return 2 * x end\nreturn M", method=None)
    assert await app.run('local h = require("helpers")\nfunction main() return h.double(21) end',
                         imports={"helpers": "app:helpers"}) == 42


async def test_library_has_only_its_own_grants(app):
    app.add("app:lib", "library.lua", 'return {f = function() return require("time") end}', method=None)
    with pytest.raises(WippyError, match="not available to app:lib"):
        await app.run('local l = require("lib")\nfunction main() return l.f() end',
                      imports={"lib": "app:lib"}, modules=["time"])


async def test_binary_chunks_are_refused(app):
    r = await app.run("""
    function main()
      local f, err = load("\\27Lua", "x", "b")
      local g, err2 = load("\\27LuaT\\0", "x")
      return {f == nil, g == nil}
    end""")
    assert r == [True, True]


async def test_text_load_runs_in_a_sandbox(app):
    assert await app.run('function main() local f = load("return os.execute == nil and 7"); return f() end') == 7


async def test_shared_libraries_are_read_only(app):
    with pytest.raises(WippyError, match="read-only"):
        await app.run("function main() string.upper = nil end")


async def test_string_metatable_is_hidden(app):
    assert await app.run('function main() return getmetatable("") end') is False


async def test_rawset_on_shared_table_refused(app):
    with pytest.raises(WippyError, match="read-only"):
        await app.run("function main() rawset(string, 'x', 1) end")


async def test_globals_are_per_process(app):
    app.process("app:child", """
    counter = (counter or 0) + 1
    function main(parent) process.send(parent, "n", counter) end""")
    r = await app.run("""
    function main()
      for i = 1, 3 do process.spawn("app:child", "app:host", process.pid()) end
      local got = {}
      for i = 1, 3 do got[i] = process.inbox():receive():payload():data() end
      return got
    end""")
    assert r == [1, 1, 1]


async def test_endless_loop_ends_only_that_process(make_app):
    # preempted at its yield points, rescheduled, and ended once it has run busy_timeout
    # without waiting (a sort comparator too: the sandbox's sort is Lua); a loop where no yield
    # is possible (an __index that C's ipairs calls) once preempted, at a quarter of slice_timeout
    app = make_app(slice_timeout=0.2, busy_timeout=0.5)
    app.process("app:spin", "function main() while true do end end")
    app.process("app:spin_pcall", "function main() while true do pcall(function() while true do end end) end end")
    app.process("app:spin_sort", "function main() table.sort({1, 2, 3}, function() while true do end end) end")
    app.process("app:spin_ipairs", """function main()
      for _ in ipairs(setmetatable({}, {__index = function() while true do end end})) do end end""")
    r = await app.run("""
    function main()
      local pids = {}
      for i, name in ipairs({"app:spin", "app:spin_pcall", "app:spin_sort", "app:spin_ipairs"}) do
        pids[process.spawn_monitored(name, "app:host")] = i
      end
      local out = {}
      for i = 1, 4 do
        local ev = process.events():receive()
        out[pids[ev.from]] = ev.result.error:kind() .. ": " .. tostring(ev.result.error)
      end
      return out
    end""")
    assert all(x.startswith("LimitExceeded: ") for x in r), r
    assert "busy time limit" in r[0] and "(busy_timeout: 0.5s); ran 0.5" in r[0], r
    assert "busy time limit" in r[1], r
    assert "busy time limit" in r[2], r
    assert "slice time limit" in r[3] and "(slice_timeout: 0.2s); ran 0.05" in r[3], r
    assert "where it cannot yield" in r[3], r


async def test_instruction_budget(make_app):
    app = make_app(max_instructions=200_000)
    with pytest.raises(WippyError, match="instruction budget"):
        await app.run("function main() local x = 0; for i = 1, 1e9 do x = x + i end; return x end")
    # a short process is fine
    assert await app.run("function main() local x = 0; for i = 1, 1000 do x = x + i end; return x end") == 500500


async def test_memory_bomb_ends_only_that_process(make_app):
    app = make_app(max_memory=64 * 1024 * 1024)
    app.process("app:bomb", """
    function main()
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 1024) .. i end
    end""")
    app.process("app:bystander", """
    function main() local ev = process.events():receive(); return ev.reason end""")
    r = await app.run("""
    function main()
      local b = process.spawn_monitored("app:bystander", "app:host")
      process.spawn_monitored("app:bomb", "app:host")
      local ev = process.events():receive()
      local kind = ev.result.error:kind()
      collectgarbage()
      process.cancel(b, "fine")
      return {kind, process.events():receive().result.value}
    end""")
    assert r == ["LimitExceeded", "fine"]


async def test_memory_limit_under_the_generational_collector(make_app):
    # a heap this small is collected in generational mode, whose steps never report the end of a
    # cycle: the memory check goes incremental to decide, and ends the hog by the limit, before
    # the heap is far past it (the bomb reports the heap as it grows); the host then collects
    # generationally again (a step is a whole collection)
    app = make_app(max_memory=16 * 1024 * 1024)
    app.process("app:bomb", """
    function main(parent)
      local t = {}
      for i = 1, 1e9 do
        t[i] = {i, tostring(i)}
        if i % 5000 == 0 then process.send(parent, "heap", collectgarbage("count")) end
      end
    end""")
    r = await app.run("""
    function main()
      process.spawn_monitored("app:bomb", "app:host", process.pid())
      local ev = process.events():receive()
      local inbox, most = process.inbox(), 0
      while true do
        local s = channel.select({inbox:case_receive(), default = true})
        if s.default then break end
        most = math.max(most, s.value:payload():data())
      end
      for i = 1, 50 do local s = string.rep("x", 1024 * 1024) .. i end   -- 50 MB of garbage
      return {ev.result.error:kind(), tostring(ev.result.error), most, collectgarbage("count"),
              collectgarbage("step")}
    end""")
    assert r[0] == "LimitExceeded" and "exceeded the memory limit of host" in r[1], r
    assert 8 * 1024 < r[2] < 24 * 1024, r      # KiB: it grew, and was ended near the limit
    assert r[3] < 16 * 1024 and r[4] is True, r


async def test_python_objects_are_unreachable(app):
    r = await app.run("""
    function main()
      local found = {}
      for k, v in pairs(_G) do
        if type(v) == "userdata" then found[#found + 1] = k end
      end
      return #found
    end""")
    assert r == 0


async def test_runtime_metatables_are_out_of_reach(app):
    r = await app.run("""
    local time = require("time")
    function main()
      local mine = setmetatable({}, {__index = {x = 1}})
      local ok = pcall(setmetatable, channel.new(), {})
      return {getmetatable(channel.new()), getmetatable(errors.new("e")), getmetatable(time.now()),
              getmetatable(mine).__index.x, ok}
    end""", modules=["time"])
    assert r == [False, False, False, 1, False]
