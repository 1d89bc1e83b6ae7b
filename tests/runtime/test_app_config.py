"""The app folder's .wippy.yaml: lua.eval is read (the eval_runner compile cache); every other
setting is reported as not applied, with its file and line."""
from __future__ import annotations

import textwrap

from tests.engine.conftest import HOST, LuaApp
from wippy import app_config
from wippy.app_config import EvalCache
from wippy.engine.engine import Engine
from wippy.engine.node import Node
from wippy.runtime import Runtime


def write(tmp_path, text: str):
    (tmp_path / ".wippy.yaml").write_text(textwrap.dedent(text))


def test_no_file_or_empty_file_gives_the_defaults(tmp_path):
    assert app_config.load(tmp_path) == app_config.AppConfig()
    assert app_config.load(None).eval_cache == EvalCache(256, 0.0)
    write(tmp_path, "")
    assert app_config.load(tmp_path) == app_config.AppConfig()


def test_lua_eval_cache_settings_are_read(tmp_path):
    write(tmp_path, """
        version: "1.0"
        lua:
          eval:
            cache_size: 16
            cache_ttl: 1m30s
        """)
    cfg = app_config.load(tmp_path)
    assert cfg.eval_cache == EvalCache(16, 90.0) and cfg.problems == ()
    assert Runtime(tmp_path, persist_history=False).node.eval_cache == EvalCache(16, 90.0)


def test_other_settings_and_bad_values_are_reported_with_their_line(tmp_path, caplog):
    write(tmp_path, """
        logger:
          encoding: json
        lua:
          proto_cache_size: 100
          eval:
            cache_size: many
            cache_ttl: 10
            size: 3
        """)
    cfg = app_config.load(tmp_path)
    f = tmp_path / ".wippy.yaml"
    assert cfg.eval_cache == EvalCache(256, 10.0)     # a bad value keeps the default
    assert cfg.problems == (
        f"{f}:2: 'logger' is not applied by this runtime (of .wippy.yaml it reads lua.eval only)",
        f"{f}:5: 'lua.proto_cache_size' is not applied by this runtime (of .wippy.yaml it reads lua.eval only)",
        f"{f}:7: lua.eval.cache_size must be an integer, got 'many' (the default 256 applies)",
        f"{f}:9: unknown setting lua.eval.size (known: cache_size, cache_ttl)",
    )
    assert all(p in caplog.text for p in cfg.problems)
    write(tmp_path, "lua: {eval: {cache_ttl: soon}}\n")
    (problem,) = app_config.load(tmp_path).problems
    assert problem.startswith(f"{f}:1: lua.eval.cache_ttl: invalid duration 'soon'")
    write(tmp_path, "version: 1\nlua: [1\n")
    (problem,) = app_config.load(tmp_path).problems
    assert problem.startswith(f"{f}:3: invalid YAML")
    write(tmp_path, "a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcde", "bcdef")))
    (problem,) = app_config.load(tmp_path).problems
    assert "aliases expand to more than" in problem


def _app(cache: EvalCache) -> LuaApp:
    app = LuaApp.__new__(LuaApp)
    app.entries = {}
    app.node = Node("test", app.entries.get)
    app.node.eval_cache = cache
    app.engine = Engine(app.node, HOST)
    app.node.add_host(HOST, app.engine)
    # count the compilations eval_runner does (each marks the source's yield points once)
    app.engine.lua.eval("""function(S)
        local mark = S.with_yield_points
        S.compiled = 0
        S.with_yield_points = function(...) S.compiled = S.compiled + 1 return mark(...) end
    end""")(app.engine.S)
    return app


RUN = """local runner = require('eval_runner')
local time = require('time')
return function(sources)
  for _, src in ipairs(sources) do
    if src == "wait" then time.sleep("150ms")
    else assert(runner.run({source = "return " .. src}) == tonumber(src)) end
  end
end"""


async def test_eval_cache_is_least_recently_used_first_out():
    app = _app(EvalCache(2, 0.0))
    await app.run(RUN, ["1", "2", "1", "3", "1", "2"], modules=["eval_runner", "time"])
    assert app.engine.S.compiled == 4      # 1, 2, 3 (evicts 2, not 1), 2


async def test_eval_cache_size_zero_and_ttl():
    app = _app(EvalCache(0, 0.0))
    await app.run(RUN, ["1", "1", "1"], modules=["eval_runner", "time"])
    assert app.engine.S.compiled == 3
    app = _app(EvalCache(10, 0.1))
    await app.run(RUN, ["1", "1", "wait", "1", "1"], modules=["eval_runner", "time"])
    assert app.engine.S.compiled == 2
