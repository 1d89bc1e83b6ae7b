"""Kinds of the documentation added here, each loaded from an app folder's YAML and then used:
fs.embed, env.storage.static and env.storage.router, queue.driver.amqp (used against RabbitMQ in
tests/data/test_data_servers.py), and the refusal of *.lua.bc entries."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from wippy.engine.errors import WippyError
from wippy.runtime import Runtime


def write(root: Path, rel: str, text: str | bytes) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(textwrap.dedent(text).lstrip("\n"))


@pytest.fixture
async def app(tmp_path: Path):
    write(tmp_path, "_index.yaml", """
        version: "1.0"
        namespace: app
        entries:
          - name: assets
            kind: fs.embed
            directory: ./assets
          - name: inline
            kind: fs.embed
            files:
              notes/readme.txt: "inline text"
          - name: defaults
            kind: env.storage.static
            values: {APP_ENV: production, REGION: eu, FIXED: "1"}
          - name: mem
            kind: env.storage.memory
          - name: chain
            kind: env.storage.router
            storages: [app:mem, app:defaults]
          - name: region
            kind: env.variable
            variable: REGION
            storage: app:chain
          - name: app_env
            kind: env.variable
            variable: APP_ENV
            storage: app:chain
          - name: fixed
            kind: env.variable
            variable: FIXED
            storage: app:defaults
          - name: read
            kind: function.lua
            source: file://read.lua
            method: main
            modules: [fs, env]
          - name: broker
            kind: queue.driver.amqp
            url: amqp://guest:guest@127.0.0.1:5672/
            vhost: jobs
            prefetch_count: 5
            default_message_ttl: 1h
          - name: mathx
            kind: module.lua
            source: 'return {double = function(x) return 2 * x end, square = function(x) return x * x end}'
          - name: use_mathx
            kind: function.lua
            source: 'local m = require("m"); return {main = function(x) return m.double(x) + m.square(x) end}'
            method: main
            imports: {m: app:mathx}
          - name: typo
            kind: function.lua
            source: 'return {main = function() return 1 end}'
            method: main
            modules: [jsn]
          - name: packed
            kind: function.lua.bc
            source: "\\x1bLua"
            method: main
        """)
    write(tmp_path, "assets/index.html", "<h1>hi</h1>")
    write(tmp_path, "assets/img/dot.bin", bytes([0, 255, 1, 2]))
    write(tmp_path, "assets/.hidden", "secret")
    write(tmp_path, "read.lua", """
        local fs = require("fs")
        local env = require("env")
        local function main(what)
          if what == "html" then return fs.get("app:assets"):readfile("index.html") end
          if what == "bin" then return #fs.get("app:assets"):readfile("img/dot.bin") end
          if what == "hidden" then return fs.get("app:assets"):exists(".hidden") end
          if what == "inline" then return fs.get("app:inline"):readfile("notes/readme.txt") end
          if what == "write" then
            local ok, err = fs.get("app:assets"):writefile("new.txt", "x")
            return tostring(err)
          end
          if what == "env" then
            local before = env.get("REGION")
            local ok, err = env.set("REGION", "us")      -- writes go to the first writable storage
            return {before = before, after = env.get("REGION"), app_env = env.get("APP_ENV"), set_err = err}
          end
          if what == "static_write" then
            local ok, err = env.set("FIXED", "2")
            return {after = env.get("FIXED"), err = err and tostring(err)}
          end
        end
        return {main = main}
        """)
    rt = Runtime(tmp_path, node_name="t", persist_history=False)
    await rt.start()
    yield rt, tmp_path
    await rt.stop()


async def test_fs_embed_carries_a_folder_in_the_entry_read_only(app):
    rt, d = app
    files = rt.registry.get("app:assets").data["files"]
    assert files["index.html"] == "<h1>hi</h1>" and files["img/dot.bin"] == {"base64": "AP8BAg=="}
    assert ".hidden" not in files
    assert await rt.call("app:read", "html") == "<h1>hi</h1>"
    assert await rt.call("app:read", "bin") == 4
    assert await rt.call("app:read", "hidden") is False
    assert await rt.call("app:read", "inline") == "inline text"
    assert "read-only" in await rt.call("app:read", "write")


async def test_fs_embed_follows_an_edit_of_an_embedded_file(app):
    rt, d = app
    import asyncio
    write(d, "assets/index.html", "<h1>changed</h1>")
    for _ in range(200):
        if rt.registry.get("app:assets").data["files"]["index.html"] == "<h1>changed</h1>":
            break
        await asyncio.sleep(0.05)
    assert await rt.call("app:read", "html") == "<h1>changed</h1>"


async def test_env_router_reads_first_hit_writes_first_writable_static_is_read_only(app):
    rt, _ = app
    got = await rt.call("app:read", "env")
    assert got["before"] == "eu" and got["after"] == "us" and got["app_env"] == "production"
    got = await rt.call("app:read", "static_write")
    assert got["after"] == "1" and got["err"]       # env.storage.static is read-only


async def test_bytecode_entries_are_refused_with_the_reason(app):
    rt, d = app
    assert rt.registry.get("app:packed") is None
    [err] = [e for e in rt.errors if "app:packed" in e]
    assert err.startswith(f"{d / '_index.yaml'}:")
    assert "precompiled Lua bytecode (function.lua.bc) is not supported" in err and "use function.lua" in err
    with pytest.raises(WippyError):
        await rt.call("app:packed")


async def test_amqp_driver_loads_from_yaml_and_refuses_what_it_cannot_do(app):
    from wippy.data import Resources
    from wippy.kinds.models import EntryInvalid, validate_entry
    from wippy.registry import Entry
    rt, _ = app
    driver = Resources.of(rt.node).driver("app:broker")
    assert driver.type == "amqp" and driver._url() == "amqp://guest:guest@127.0.0.1:5672/jobs"
    for data, message in [({"auth_mechanism": "AMQPLAIN"}, "auth_mechanism AMQPLAIN is not supported"),
                          ({"reconnect_max_delay": "30s"}, "reconnect_max_delay is not supported"),
                          ({"tls": {"ca": "PEM"}}, "tls settings are given but TLS is off"),
                          ({"url": "amqps://h/", "auth_mechanism": "EXTERNAL"},
                           "EXTERNAL logs in with the TLS client certificate"),
                          ({"url": "amqps://h/", "tls": {"cert": "PEM"}}, "tls.cert and tls.key go together"),
                          ({"url": "amqps://h/", "tls": {"ca": "PEM", "ca_env": "CA"}}, "keep one"),
                          ({"default_queue_ttl": "1h", "default_queue_expiry": "2h"}, "both set x-expires")]:
        with pytest.raises(EntryInvalid, match=message):
            validate_entry(Entry("app:b", "queue.driver.amqp", {}, data))
    # tls.enabled puts the URL's broker behind TLS; a CA that is no certificate refuses the entry
    m = validate_entry(Entry("app:b", "queue.driver.amqp", {}, {"url": "amqp://u:p@h:5671/", "tls": {"enabled": True}}))
    assert m.url == "amqps://u:p@h:5671/" and m.use_tls()
    ttl = validate_entry(Entry("app:b", "queue.driver.amqp", {}, {"default_queue_ttl": "1h"}))
    assert ttl.default_queue_expiry == 3600      # RabbitMQ's queue TTL is x-expires
    from wippy.data.amqp import AmqpDriver
    from wippy.engine.errors import WippyError
    bad = validate_entry(Entry("app:b", "queue.driver.amqp", {}, {"url": "amqps://h/", "tls": {"ca": "not a PEM"}}))
    with pytest.raises(WippyError, match=r"amqp driver app:b: tls.ca cannot be used \(no start line"):
        AmqpDriver("app:b", bad, lambda name: None)
    with pytest.raises(EntryInvalid, match="no_local: not supported"):
        validate_entry(Entry("app:c", "queue.consumer", {}, {"queue": "q", "func": "f",
                                                           "driver_options": {"amqp": {"no_local": True}}}))


async def test_module_lua_is_imported_by_other_entries(app):
    rt, _ = app
    assert await rt.call("app:use_mathx", 3) == 15


async def test_a_module_that_does_not_exist_refuses_the_entry_with_a_suggestion(app):
    rt, d = app
    assert rt.registry.get("app:typo") is None
    [err] = [e for e in rt.errors if "app:typo" in e]
    assert err.startswith(f"{d / '_index.yaml'}:") and "unknown module 'jsn' in modules (did you mean 'json'?)" in err


@pytest.mark.parametrize("pool,expected", [({"type": "static", "workers": 2}, 6), ({}, 4), ({"type": "inline"}, 7)])
async def test_function_pool_size_is_how_many_idle_instances_are_kept(tmp_path: Path, pool, expected):
    """Four overlapping calls need four instances; of those, the pool keeps its size for the next four."""
    import asyncio
    from wippy.registry import Entry, Op
    rt = Runtime(None, node_name="t", persist_history=False)
    await rt.start()
    try:
        source = ('local time = require("time"); local me = tostring({})\n'
                  'return {main = function() time.sleep("100ms"); return me end}')
        await rt.registry.apply([Op.create(Entry("app:f", "function.lua", {}, {
            "source": source, "method": "main", "modules": ["time"], "pool": pool}))])
        seen = set()
        for _ in range(2):
            seen |= set(await asyncio.gather(*(rt.call("app:f") for _ in range(4))))
        assert len(seen) == expected
    finally:
        await rt.stop()
