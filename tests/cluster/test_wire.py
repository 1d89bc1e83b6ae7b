"""Messages to processes of other nodes are encoded in the sending engine and decoded in the
receiving one (engine/lua/wire.lua): a process on another node receives what a process on the
same node would, and the encoding is the mesh's MessagePack, which Python reads as it reads a
conversion of the same values. Two runtimes in one event loop, joined by the mesh."""
from __future__ import annotations

from pathlib import Path

import pytest

from wippy.cluster import codec
from wippy.cluster.cluster import Cluster
from wippy.engine.errors import WippyError
from wippy.runtime import Runtime

from .test_mesh import _Started, _connected, _join

# each case: a Lua expression list, sent as the arguments of one process.send
CASES = [
    "0", "127", "128", "255", "256", "65535", "65536", "2^31 // 1", "4294967295", "4294967296",
    "math.maxinteger", "math.mininteger", "-1", "-32", "-33", "-128", "-129", "-32768", "-32769",
    "-2147483648", "-2147483649", "1.5", "-0.25", "1e308", "1/0", "true", "false", "nil",
    "''", "'x'", "string.rep('y', 31)", "string.rep('y', 32)", "string.rep('z', 300)",
    "string.rep('w', 70000)", "'\\255\\0 not utf-8'", "'héllo'",
    "{}", "{1, 2, 3}", "{a = 1, b = {true, false}, c = {}}", "{[1] = 'a', [3] = 'c'}",
    "{[1.5] = 1, [true] = 2, [-3] = 3}", "{list = {{x = 1}, {x = 2}}, s = string.rep('k', 20)}",
    "errors.new({kind = errors.NOT_FOUND, message = 'gone', retryable = true, details = {k = {1, 2}}})",
    "{err = errors.new('plain')}",
    "1, nil, 3", "'a', {b = 'c'}",
    "(function() local t = {} for i = 1, 40 do t[i] = i * 1000 end return t end)()",
    "(function() local t = {} for i = 1, 70000 do t[i] = i end return t end)()",
    "(function() local t = {} for i = 1, 20 do t['k' .. i] = {i} end return t end)()",
]

APP = """
version: "1.0"
namespace: app
entries:
  - {name: procs, kind: process.host, lifecycle: {auto_start: true}}
  - name: collector
    kind: process.lua
    method: main
    source: |
      -- a value as text, exactly (types, integer or float, bytes, error fields, keys sorted)
      local function dump(v)
        local t = type(v)
        if t == "string" then
          return "s:" .. v:gsub("[^%w%p ]", function(c) return "\\\\" .. c:byte() end)
        end
        if t == "number" then
          return math.type(v) .. ":" .. string.format(math.type(v) == "integer" and "%d" or "%.17g", v)
        end
        if t ~= "table" then return tostring(v) end
        if getmetatable(v) ~= nil and v.kind then
          return "error(" .. v:kind() .. "," .. v:message() .. "," .. tostring(v:retryable()) .. ","
            .. dump(v:details()) .. ")"
        end
        local parts = {}
        for k, x in pairs(v) do parts[#parts + 1] = dump(k) .. "=" .. dump(x) end
        table.sort(parts)
        return "{" .. table.concat(parts, ",") .. "}"
      end
      local function main(n, reply)
        local inbox, got = process.inbox(), {}
        for i = 1, n do
          local m = inbox:receive()
          got[i] = {topic = m:topic(), from = m:from(), value = dump(m:payload():data())}
        end
        process.send(reply, "got", got)
        return got
      end
      return {main = main}
  - name: sender
    kind: process.lua
    method: main
    source: |
      local function main(host)
        local me = process.pid()
        local pid = process.spawn("app:collector", host, %(n)d, me)
        %(sends)s
        -- what the collector got, sent back (crossing back when it is remote)
        return process.inbox():receive():payload():data()
      end
      return {main = main}
  - name: refused
    kind: process.lua
    method: main
    modules: [channel]
    source: |
      local channel = require("channel")
      local function main(host)
        local pid = process.spawn("app:collector", host, 1, process.pid())
        local out = {}
        local ok, err = process.send(pid, "t", {ch = channel.new(1)})
        out.channel = {ok = ok, kind = err and err:kind(), text = tostring(err)}
        ok, err = process.send(pid, "t", {[{}] = 1})
        out.key = {ok = ok, kind = err and err:kind(), text = tostring(err)}
        ok, err = process.send(pid, "t", {f = print})
        out.fn = {ok = ok, kind = err and err:kind(), text = tostring(err)}
        local cyclic = {}
        cyclic.self = cyclic
        ok, err = process.send(pid, "t", cyclic)
        out.cyclic = {ok = ok, kind = err and err:kind()}
        process.send(pid, "last", "ok")
        out.reply = process.inbox():receive():payload():data()
        return out
      end
      return {main = main}
"""


def _app() -> str:
    sends = "\n        ".join(f'process.send(pid, "c{i}", {expr})' for i, expr in enumerate(CASES))
    body = APP.replace("%(n)d", str(len(CASES))).replace("%(sends)s", sends)
    return body.replace("process.lua\n    method: main\n    source: |\n      local function main(host)\n"
                        "        local me",
                        "process.lua\n    method: main\n    modules: [errors]\n    source: |\n"
                        "      local function main(host)\n        local me")


async def _runtime(tmp: Path, name: str) -> Runtime:
    d = tmp / name
    d.mkdir()
    (d / "_index.yaml").write_text(_app())
    rt = Runtime(d, node_name=name, persist_history=False)
    rt.cluster = _Started(Cluster(rt.node, app="t", namespace="ns", key=b"k" * 32))
    await rt.start()
    return rt


@pytest.fixture
async def pair(tmp_path: Path):
    a, b = await _runtime(tmp_path, "pod-a"), await _runtime(tmp_path, "pod-b")
    wire: list[tuple[str, str, bytes]] = []
    send_wire = a.node.send_wire

    def tap(node: str, host: str, data: bytes) -> None:
        wire.append((node, host, data))
        send_wire(node, host, data)
    a.node.send_wire = tap    # type: ignore[method-assign]
    try:
        _join(a, b)
        await _connected(a, "pod-b")
        await _connected(b, "pod-a")
        yield a, b, wire
    finally:
        await a.stop()
        await b.stop()


async def test_a_process_on_another_node_receives_what_a_local_one_would(pair) -> None:
    a, b, wire = pair
    local = await a.node.exec("app:sender", "app:procs", ["app:procs"])
    remote = await a.node.exec("app:sender", "app:procs", ["pod-b@app:procs"])
    assert len(remote) == len(CASES)
    for i, (r, lo) in enumerate(zip(remote, local)):
        assert r["topic"] == f"c{i}" and r["from"].startswith("{pod-a@app:procs|")
        assert r["value"] == lo["value"], CASES[i]
    got = {CASES[i]: r["value"] for i, r in enumerate(remote)}
    assert got["math.maxinteger"] == "integer:9223372036854775807" and got["1.5"] == "float:1.5"
    assert got["'\\255\\0 not utf-8'"] == "s:\\255\\0 not utf-8" and got["nil"] == "nil"
    assert got["1, nil, 3"] == "{integer:1=integer:1,integer:3=integer:3,s:n=integer:3}"

    # what went over the wire is MessagePack that Python reads as it converts the same values:
    # runs of {pid, topic, from, value...}
    sent = [w for w in wire if w[0] == "pod-b"]
    assert sent and all(host == "app:procs" for _, host, _ in sent)
    values = {CASES[int(run[1][1:])]: run[3:] for _, _, data in sent for run in codec.unpacker_of(data)}
    assert all(len(values[c]) == 1 for c in CASES)
    assert values["128"] == [128] and values["math.mininteger"] == [-2**63] and values["nil"] == [None]
    assert values["'\\255\\0 not utf-8'"] == [b"\xff\x00 not utf-8"] and values["'héllo'"] == ["héllo"]
    assert values["{}"] == [[]] and values["{[1] = 'a', [3] = 'c'}"] == [{1: "a", 3: "c"}]
    assert values["{[1.5] = 1, [true] = 2, [-3] = 3}"] == [{1.5: 1, True: 2, -3: 3}]
    err = values["{err = errors.new('plain')}"][0]["err"]
    assert isinstance(err, WippyError) and err.message == "plain" and "stack traceback" in err.details
    assert values["'a', {b = 'c'}"] == [{"n": 2, 1: "a", 2: {"b": "c"}}]


async def test_values_that_cannot_reach_another_node_are_refused_at_the_send(pair) -> None:
    a, b, _ = pair
    out = await a.node.exec("app:refused", "app:procs", ["pod-b@app:procs"])
    for case in ("channel", "key", "fn", "cyclic"):   # nil and an error
        assert "ok" not in out[case] and out[case]["kind"] == "Invalid", case
    assert "cannot send a channel to another node" in out["channel"]["text"]
    assert "cannot send a table key to another node" in out["key"]["text"]
    assert "cannot send a function value" in out["fn"]["text"]
    # none of them reached the collector: its one message is the last one sent
    assert [r["topic"] for r in out["reply"]] == ["last"] and out["reply"][0]["value"] == "s:ok"
