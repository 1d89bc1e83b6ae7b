"""Figures of the typed-Lua front end, each beside a baseline measured in the same run.

    .venv/bin/python bench/typed_lua.py [--quick]

- parse+emit throughput (lines/s) of a generated 2,000-line typed program, uncached, beside
  lupa compiling (load, not run) the emitted plain Lua;
- `wippy lint` time of that program (parse + type check);
- the compile cache: a second compile of the same source;
- time of `wippy run examples/hello-world hello` to its first output line, with the front end
  (the typed example; its first run parses, later runs of unchanged sources find them in the
  disk cache) and without it (the plain-Lua example of before, the front end not even imported).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "runtime-image"))

from lupa import lua54  # noqa: E402

from wippy import lang  # noqa: E402
from wippy.lang.emit import emit  # noqa: E402
from wippy.lang.lint import lint_source  # noqa: E402
from wippy.lang.parser import parse  # noqa: E402

UNIT = '''
do  -- one module-sized unit (Lua allows 200 locals per function)
type Item{n} = {{id: integer, name: string, tags?: {{string}}, price: number @min(0)}}
type State{n} = {{status: "idle"}} | {{status: "busy", job: Item{n}}} | {{status: "failed", reason: string}}

local function total{n}(items: {{Item{n}}}, discount: number?): number
    local sum: number = 0
    for _, it in ipairs(items) do
        sum = sum + it.price
    end
    local d = discount or 0
    if d > 0 then
        sum = sum * (1 - d)
    end
    return sum
end

local function describe{n}(s: State{n}): string
    if s.status == "busy" then
        return "busy with " .. s.job.name
    elseif s.status == "failed" then
        return "failed: " .. s.reason
    end
    return "idle"
end

local function find{n}<T>(xs: {{T}}, pred: (T) -> boolean): T?
    for _, x in ipairs(xs) do
        if pred(x) then return x end
    end
    return nil
end

local function names{n}(items: {{Item{n}}}): {{string}}
    local out: {{string}} = {{}}
    for i, it in ipairs(items) do
        out[i] = it.name:upper()
    end
    local first = find{n}(items, function(x: Item{n}): boolean return x.id == 1 end)
    if first then
        out[#out + 1] = describe{n}({{status = "busy", job = first}})
    end
    return out
end
end
'''


def program(lines: int) -> str:
    parts, n = [], 0
    while sum(p.count("\n") for p in parts) < lines:
        parts.append(UNIT.format(n=n))
        n += 1
    return "".join(parts)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# The runtime as it was before the dialect: wippy.lang replaced before anything imports it, so
# neither its modules are imported nor any source parsed; Lua's own compiler checks syntax. Only
# its run-time types (types.lua, read from the package folder) are kept: the engine needs them.
_NO_FRONT_END = """\
import importlib.util, os, types, wippy
d = os.path.join(os.path.dirname(wippy.__file__), "lang")
L = types.ModuleType("wippy.lang")
L.__path__ = [d]
L.__spec__ = importlib.util.spec_from_file_location("wippy.lang", os.path.join(d, "__init__.py"),
                                                    submodule_search_locations=[d])
class LuaSyntaxError(Exception):
    pass
class SyntaxChecker:
    def __init__(self):
        from lupa import lua54
        lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
        self._load = lua.eval("function(s, n) local f, err = load(s, n, 't', {}); return err end")
    def error(self, chunk, source):
        return self._load("return function(_ENV, ...) " + source + "\\nend", "=" + chunk)
L.LuaSyntaxError, L.SyntaxChecker = LuaSyntaxError, SyntaxChecker
L.compile = lambda source, chunk="?": source
L.signature_lua = lambda name: None
L.set_disk_cache = lambda root: None
sys.modules["wippy.lang"] = wippy.lang = L
"""


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a running process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def first_output(app_dir: Path, bypass: bool, cache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds from starting `wippy run APP hello` to its first line of output."""
    code = "import sys\n" + (_NO_FRONT_END if bypass else "") + "from wippy.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "runtime-image"), WIPPY_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", code, "-s", "run", str(app_dir), "hello", "bench"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=app_dir)
    assert p.stdout is not None
    line = p.stdout.readline()
    wall = time.perf_counter() - t0
    cpu = _cpu_seconds(p.pid)
    p.wait(timeout=60)
    if not line:
        raise SystemExit(f"no output from wippy run {app_dir}")
    return wall, cpu


def plain_hello(tmp: Path) -> Path:
    """The hello-world example as it was before the dialect: plain Lua."""
    app = tmp / "plain-hello"
    app.mkdir()
    (app / "_index.yaml").write_text((ROOT / "examples/hello-world/_index.yaml").read_text())
    (app / "greet.lua").write_text(textwrap.dedent("""\
        local function greet(who)
          return "Hello, " .. (who or "world") .. "!"
        end

        return {greet = greet}
        """))
    (app / "hello.lua").write_text(textwrap.dedent("""\
        local io = require("io")
        local funcs = require("funcs")

        local function main(who)
          local text, err = funcs.call("hello:greet", who)
          if err then return nil, err end
          io.print(text)
          return 0
        end

        return {main = main}
        """))
    return app


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeat = 3 if args.quick else 7

    src = program(2000)
    n_lines = src.count("\n") + 1
    plain = emit(parse(src))
    assert plain.count("\n") == src.count("\n"), "emitted Lua must keep every line"

    t_front = best(lambda: emit(parse(src)), repeat)
    t_parse = best(lambda: parse(src), repeat)
    lua = lua54.LuaRuntime(register_eval=False, register_builtins=False)
    load = lua.eval("function(s) local f, e = load(s, '=bench', 't', {}); assert(f, e) end")
    t_lupa = best(lambda: load(plain), repeat)
    t_lint = best(lambda: lint_source(src), max(1, repeat // 2))
    diags = [d for d in lint_source(src) if d.code.startswith(("E", "P"))]
    lang.compile(src)
    t_cached = best(lambda: lang.compile(src), repeat)

    print(f"typed program: {n_lines} lines, {len(src) // 1024} KiB, lint errors: {len(diags)}")
    print(f"  parse+emit        {t_front * 1000:8.1f} ms   {n_lines / t_front:10,.0f} lines/s   (parse alone {t_parse * 1000:.1f} ms)")
    print(f"  lupa load (plain) {t_lupa * 1000:8.1f} ms   {n_lines / t_lupa:10,.0f} lines/s   (baseline: Lua's own compiler)")
    print(f"  lint (type check) {t_lint * 1000:8.1f} ms   {n_lines / t_lint:10,.0f} lines/s")
    print(f"  compile, cached   {t_cached * 1e6:8.1f} us   (content-hash hit)")

    runs = 3 if args.quick else 9
    with tempfile.TemporaryDirectory() as tmp:
        plain = plain_hello(Path(tmp))
        hello = ROOT / "examples/hello-world"
        warm = Path(tmp) / "warm"
        first_output(hello, False, warm)   # the disk cache as any second run finds it
        cases = {"before": (plain, True), "after, first run": (hello, False), "after, next runs": (hello, False)}
        samples: dict[str, list] = {k: [] for k in cases}
        for i in range(runs):   # interleaved, so that a change in the machine's load hits all alike
            for name, (app, bypass) in cases.items():
                cache = warm if name == "after, next runs" else Path(tmp) / f"cold-{name}-{i}"
                samples[name].append(first_output(app, bypass, cache))
    med = {k: [statistics.median(x[j] for x in v) for j in (0, 1)] for k, v in samples.items()}
    print(f"wippy run examples/hello-world hello, to its first output (median of {runs}; wall, and the"
          " process's CPU time, which other load on the machine disturbs less):")
    b = med["before"]
    print(f"  before (plain Lua, no front end)    {b[0] * 1000:8.1f} ms wall {b[1] * 1000:8.1f} ms CPU")
    for name, label in (("after, first run", "after (typed, first run: parses)"),
                        ("after, next runs", "after (typed, unchanged: cached)")):
        a = med[name]
        print(f"  {label:<35} {a[0] * 1000:8.1f} ms wall {a[1] * 1000:8.1f} ms CPU"
              f"   ({(a[0] / b[0] - 1) * 100:+.1f}% wall, {(a[1] / b[1] - 1) * 100:+.1f}% CPU)")


if __name__ == "__main__":
    main()
