"""io module (lua/system/io.md) on a terminal host: write/print/eprint, read sizes, readline,
raw mode (reference-counted, on a real pseudo-terminal), args."""
from __future__ import annotations

import io as pyio
import os
import pty
import sys
import termios

import pytest


@pytest.fixture
async def term(make_app):
    return make_app(terminal=True)


async def run(app, body: str):
    return await app.run("local io = require('io')\nreturn function(...)\n" + body + "\nend", modules=["io"])


async def test_write_print_eprint(term, capsys):
    res = await run(term, """
    local a = {io.write("text", "more")}
    local b = {io.print("value1", "value2", 123)}
    local c = {io.eprint("Error:", "msg")}
    io.flush()
    return {a[1], b[1], c[1]}
    """)
    out = capsys.readouterr()
    assert res == [True, True, True]
    assert out.out == "textmorevalue1\tvalue2\t123\n" and out.err == "Error:\tmsg\n"


async def test_read_sizes_and_readline(term, monkeypatch):
    data = b"line one\n" + b"x" * 3000
    monkeypatch.setattr(sys, "stdin", pyio.TextIOWrapper(pyio.BufferedReader(pyio.BytesIO(data))))
    res = await run(term, """
    local line = io.readline()
    local a = io.read(5)
    local b = io.read()         -- default 1024
    local c = io.read(0)        -- <= 0 is 1024 too
    local rest = io.read(100000)
    local eof = io.read(10)
    return {line, a, #b, #c, #rest, eof == nil}
    """)
    assert res == ["line one", "xxxxx", 1024, 1024, 3000 - 5 - 2048, True]


async def test_raw_needs_a_terminal(term, monkeypatch):
    monkeypatch.setattr(sys, "stdin", pyio.StringIO(""))
    res = await run(term, "local ok, err = io.raw(true); return {ok == nil, err:kind()}")
    assert res == [True, "Unavailable"]


async def test_raw_mode_on_a_pty(term, monkeypatch):
    master, slave = pty.openpty()
    try:
        stdin = os.fdopen(slave, "r", closefd=False)
        monkeypatch.setattr(sys, "stdin", stdin)
        before = termios.tcgetattr(slave)
        res = await run(term, """
        local a = io.raw(true)
        local b = io.raw()          -- counted: two enables
        io.raw(false)
        return {a, b}
        """)
        assert res == [True, True]
        assert termios.tcgetattr(slave)[3] & termios.ICANON == 0       # still raw after one disable
        await run(term, "return io.raw(false)")
        assert termios.tcgetattr(slave) == before                      # restored
    finally:
        os.close(master)
        os.close(slave)


async def test_args(term):
    term.node.command_args = ["a", "b"]
    assert await run(term, "return io.args()") == ["a", "b"]


async def test_not_on_a_process_host(app):
    with pytest.raises(Exception, match="io"):
        await app.run("local io = require('io')\nreturn function() end", modules=["io"])
