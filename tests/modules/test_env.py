"""env module: reads the node's environment through an overlay; never touches os.environ."""
from __future__ import annotations

import os

import pytest

from wippy.modules.env import EnvStore, store_for


async def run(app, body: str, *args):
    return await app.run("local env = require('env')\nreturn function(...)\n" + body + "\nend",
                         *args, modules=["env"])


async def test_get_reads_process_environment(app, monkeypatch):
    monkeypatch.setenv("WIPPY_TEST_VAR", "hello")
    assert await run(app, "return {env.get('WIPPY_TEST_VAR')}") == ["hello"]


async def test_get_missing_is_not_found(app):
    res = await run(app, "local v, err = env.get('WIPPY_SURELY_MISSING_42'); return {v == nil, err:kind(), err:message()}")
    assert res == [True, "NotFound", "environment variable not found: WIPPY_SURELY_MISSING_42"]


async def test_set_overlays_without_touching_os_environ(app, monkeypatch):
    monkeypatch.setenv("WIPPY_OVER", "base")
    res = await run(app, """
    local before = env.get("WIPPY_OVER")
    local ok, err = env.set("WIPPY_OVER", "over")
    local ok2 = env.set("WIPPY_NEW_VAR", "new")
    return {before, ok, err == nil, ok2, env.get("WIPPY_OVER"), env.get("WIPPY_NEW_VAR")}
    """)
    assert res == ["base", True, True, True, "over", "new"]
    assert os.environ["WIPPY_OVER"] == "base" and "WIPPY_NEW_VAR" not in os.environ
    # the overlay belongs to the node: other processes on it see the value
    assert await run(app, "return env.get('WIPPY_NEW_VAR')") == "new"


async def test_overlay_is_per_node(make_app):
    a, b = make_app(), make_app()
    await a.run("local env = require('env') return function() env.set('WIPPY_PER_NODE', 'a') end", modules=["env"])
    res = await b.run("local env = require('env') return function() local v, e = env.get('WIPPY_PER_NODE'); return e:kind() end",
                      modules=["env"])
    assert res == "NotFound"


async def test_get_all(app, monkeypatch):
    monkeypatch.setenv("WIPPY_ALL_A", "1")
    res = await run(app, """
    env.set("WIPPY_ALL_B", "2")
    local all, err = env.get_all()
    return {all.WIPPY_ALL_A, all.WIPPY_ALL_B, all.PATH ~= nil, err == nil}
    """)
    assert res == ["1", "2", "PATH" in os.environ, True]


async def test_node_store_is_used(app):
    app.node.env = EnvStore(base={"ONLY": "this"})
    res = await run(app, """
    local a = env.get("ONLY")
    local b, err = env.get("PATH")
    env.set("X", "y")
    local all = env.get_all()
    return {a, b == nil, err:kind(), all.X, all.PATH == nil}
    """)
    assert res == ["this", True, "NotFound", "y", True]
    assert store_for(app.node).get("X") == "y"


@pytest.mark.parametrize("call, msg", [
    ("env.get('')", "empty key"),
    ("env.get(nil)", "key must be a string"),
    ("env.get({})", "key must be a string"),
    ("env.set('', 'v')", "empty key"),
    ("env.set('K', '')", "empty value"),
    ("env.set('K', nil)", "value must be a string"),
    ("env.set('K', {})", "value must be a string"),
    ("env.get('\\255')", "key is not valid UTF-8"),
    ("env.set('K', '\\255')", "value is not valid UTF-8"),
])
async def test_bad_input(app, call, msg):
    res = await run(app, f"local v, err = {call}; return {{v == nil, err:kind(), err:message()}}")
    assert res == [True, "Invalid", msg]


async def test_numbers_are_accepted_as_strings(app):
    assert await run(app, "env.set('WIPPY_NUM', 42); return env.get('WIPPY_NUM')") == "42"


def test_env_store_unit():
    s = EnvStore(base={"A": "1"})
    assert s.get("A") == "1" and s.get("B") is None
    s.set("A", "2")
    s.set("B", "3")
    assert s.get("A") == "2" and s.all() == {"A": "2", "B": "3"}


async def test_undecodable_environment_bytes(app, monkeypatch):
    monkeypatch.setitem(os.environ, "WIPPY_BYTES", b"a\xffb".decode("utf-8", "surrogateescape"))
    res = await run(app, """
    local v = env.get("WIPPY_BYTES")
    local all = env.get_all()
    return {#v, v:byte(2), all.WIPPY_BYTES == v}
    """)
    assert res == [3, 255, True]
