"""Compilation is cached by content hash: an unchanged source is parsed once per process, by the
handler's check on apply and the engines' compiles together, and not again across a live change
of other entries; the `wippy` command also keeps compiled sources on disk, so a second start of
an unchanged app parses nothing (and does not even import the parser)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import wippy.lang as lang
from wippy.runtime import Runtime

ROOT = Path(__file__).resolve().parents[2]


def counting(monkeypatch) -> list:
    calls = []
    real = lang.parse

    def parse(src, chunk="?"):
        calls.append(chunk)
        return real(src, chunk)

    monkeypatch.setattr(lang, "parse", parse)
    monkeypatch.setattr(lang, "_DISK", None)
    return calls


def test_same_source_is_parsed_once(monkeypatch):
    calls = counting(monkeypatch)
    src = "local n: integer = 1 -- cache test a\nreturn n\n"
    first = lang.compile(src, "app:a")
    assert lang.compile(src, "app:b") == first
    assert calls == ["app:a"]
    lang.compile(src + " ", "app:a")   # a changed source is compiled again
    assert calls == ["app:a", "app:a"]


async def test_the_check_on_apply_and_the_engine_share_the_cache(app, monkeypatch):
    calls = counting(monkeypatch)
    src = "type T = {n: integer} -- cache test b\nfunction main(): integer return T({n = 2}).n end\n"
    assert lang.SyntaxChecker().error("app:main", src) is None
    assert await app.run(src) == 2
    assert await app.run(src) == 2
    assert calls == ["app:main"]


INDEX = """\
version: "1.0"
namespace: app
entries:
  - {name: a, kind: function.lua, source: file://a.lua, method: main}
  - {name: b, kind: function.lua, source: file://b.lua, method: main}
"""
TYPED = "type Reply = {{text: string}} -- cache test {tag}\nfunction main(): string\n    return Reply({{text = \"{text}\"}}).text\nend\n"


async def eventually(check, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_a_live_change_parses_only_what_changed(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    (tmp_path / "_index.yaml").write_text(INDEX)
    (tmp_path / "a.lua").write_text(TYPED.format(tag="live a", text="a1"))
    (tmp_path / "b.lua").write_text(TYPED.format(tag="live b", text="b1"))
    rt = Runtime(tmp_path, node_name="t")
    await rt.start()
    try:
        assert await rt.call("app:a") == "a1" and await rt.call("app:b") == "b1"
        assert sorted(calls) == ["app:a", "app:b"]
        (tmp_path / "a.lua").write_text(TYPED.format(tag="live a", text="a2"))

        async def a_changed():
            return await rt.call("app:a") == "a2"
        await eventually(a_changed)
        assert await rt.call("app:b") == "b1"
        assert sorted(calls) == ["app:a", "app:a", "app:b"]
        # b's entry changes, its source does not: its new version compiles without a parse
        (tmp_path / "_index.yaml").write_text(INDEX.replace("method: main}\n", "method: main, meta: {v: 2}}\n"))

        async def b_changed():
            entry = rt.registry.get("app:b")
            return entry is not None and (entry.meta or {}).get("v") == 2
        await eventually(b_changed)
        assert await rt.call("app:b") == "b1"
        assert sorted(calls) == ["app:a", "app:a", "app:b"]
    finally:
        await rt.stop()


def test_the_disk_cache_serves_a_new_process(tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    src = "local n: integer = 3 -- cache test disk\nreturn n\n"
    lang.set_disk_cache(tmp_path)
    try:
        first = lang.compile(src, "app:d")
        monkeypatch.setattr(lang, "_CACHE", type(lang._CACHE)())   # as a new process finds it
        assert lang.compile(src, "app:d") == first
        assert calls == ["app:d"]
        # an unusable cache folder costs the parse, nothing else
        blocker = tmp_path / "file"
        blocker.write_text("")
        lang.set_disk_cache(blocker)
        assert lang.compile(src + "\n", "app:d") == first + "\n"
    finally:
        lang.set_disk_cache(None)


def test_wippy_run_of_an_unchanged_app_parses_nothing(tmp_path):
    code = ("import sys\nfrom wippy.cli.main import main\nrc = main(['-s', 'run', '.', 'hello', 'cache'])\n"
            "print('parser imported:', 'wippy.lang.parser' in sys.modules)\nsys.exit(rc)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "runtime-image"), WIPPY_CACHE_DIR=str(tmp_path / "cache"))

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT / "examples/hello-world", env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.splitlines()

    assert run() == ["Hello, cache!", "parser imported: True"]
    assert run() == ["Hello, cache!", "parser imported: False"]
