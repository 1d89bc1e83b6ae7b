"""Typed Lua runs in the engine, and a runtime error in line N of a typed source is reported
at line N (type declarations and annotations erased without moving any line)."""
from __future__ import annotations

import pytest

from wippy.engine.errors import WippyError
from wippy.lang import compile as compile_lua

TYPED = '''type Point = {
    x: number,
    y: number,
}
type Shape =
    {kind: "circle", r: number}
    | {kind: "rect", w: number, h: number}

local function area(s: Shape): number
    if s.kind == "circle" then
        return 3 * s.r * s.r
    end
    return s.w * s.h
end

local function describe<T>(label: string,
                           value: T,
                           extra: {[string]: any}?): string
    local opt: Point? = nil
    local n: integer = (extra :: any) and 1 or 0
    return label .. tostring(value) .. n
end

function main(): {any}
    local p: Point = {x = 1, y = 2}
    local a = area({kind = "rect", w = p.x, h = p.y} :: Shape)
    local s = describe("a=", a,
        nil)
    local t: {Point}? = nil
    return {a + (t!)[1].x, s}
end
'''


def line_of(src: str, needle: str) -> int:
    return next(i for i, ln in enumerate(src.splitlines(), 1) if needle in ln)


def test_emitted_lua_has_the_same_line_count_and_lines():
    out = compile_lua(TYPED)
    assert out.count("\n") == TYPED.count("\n")
    src_lines, out_lines = TYPED.splitlines(), out.splitlines()
    for needle in ("return 3 * s.r * s.r", "return label .. tostring(value) .. n", "return {a + (t!)[1].x, s}"):
        n = line_of(TYPED, needle)
        assert "return" in out_lines[n - 1], (n, out_lines[n - 1])
    assert src_lines[0].startswith("type Point")


async def test_runtime_error_is_reported_at_its_source_line(app):
    with pytest.raises(WippyError) as e:
        await app.run(TYPED)
    line = line_of(TYPED, "(t!)[1].x")
    assert f"app:main:{line}:" in e.value.message
    assert "attempt to index a nil value" in e.value.message


async def test_error_called_in_a_multiline_typed_call_names_that_line(app):
    src = ("type Job = {id: integer,\n            data: string}\n"
           "local function check(j: Job,\n                   strict: boolean?): Job\n"
           "    if j.id < 0 then\n"
           "        error(\"negative id \" .. j.id)\n"
           "    end\n    return j\nend\n"
           "function main(): Job\n    return check({id = -1, data = \"x\"},\n        true)\nend\n")
    with pytest.raises(WippyError) as e:
        await app.run(src)
    assert f"app:main:{line_of(src, 'negative id')}: negative id -1" in e.value.message


async def test_a_typed_program_runs(app):
    src = TYPED.replace("local t: {Point}? = nil", "local t: {Point}? = {{x = 10, y = 0}}")
    assert await app.run(src) == [12, "a=20"]


async def test_a_syntax_error_names_entry_and_line(app):
    app.process("app:bad", "local x: number = 1\nlocal function f(a: number): number\n  return a +\nend\nfunction main() end")
    with pytest.raises(WippyError) as e:
        await app.node.exec("app:bad", "app:host", [])
    assert "app:bad:4:" in e.value.message and "unexpected symbol near 'end'" in e.value.message


@pytest.mark.parametrize("eol", ["\r", "\r\n", "\n\r"])
async def test_every_lua_line_end_ends_a_comment_and_counts_a_line(app, eol):
    # Lua ends a short comment (and a line) at \r as well as \n: the code after it runs
    src = eol.join(["function main() -- the answer", "  local s = [[a", "b]]", "  return {42, s}",
                    "end", "function broken()", "  error('here')", "end"])
    assert await app.run(src) == [42, "a\nb"]
    app.process("app:broken", src.replace("function main()", "function unused()").replace(
        "function broken()", "function main()"))
    with pytest.raises(WippyError) as e:
        await app.node.exec("app:broken", "app:host", [])
    assert "app:broken:7: here" in e.value.message
