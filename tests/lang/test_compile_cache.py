"""Compilation is cached by content hash: an unchanged source is parsed once per process, by the
handler's check on apply and the engines' compiles together."""
from __future__ import annotations

import wippy.lang as lang


def counting(monkeypatch) -> list:
    calls = []
    real = lang.parse

    def parse(src, chunk="?"):
        calls.append(chunk)
        return real(src, chunk)

    monkeypatch.setattr(lang, "parse", parse)
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
