"""Jet templates (CloudyKit Jet syntax): a TemplateSet holds named sources of one set and
renders them; templates reference each other by name (extends, include, import, exec)."""
from __future__ import annotations

from typing import Any

from .parser import Delims, JetSyntaxError, Parsed, parse
from .render import JetRenderError, Renderer


class TemplateNotFound(LookupError):
    pass


class TemplateSet:
    def __init__(self, sources: dict[str, str], *, delims: Delims | None = None,
                 extensions: list[str] | None = None, globals_: dict | None = None, cache: bool = True):
        self.sources = sources
        self.delims = delims or Delims()
        self.extensions = sorted(extensions if extensions is not None else [".jet", ".html.jet", ".jet.html"],
                                 key=len, reverse=True)
        self.globals = globals_ or {}
        self.cache = cache
        self._parsed: dict[str, Parsed] = {}

    def resolve(self, name: str) -> str:
        n = name.strip()
        while n.startswith("./"):
            n = n[2:]
        n = n.lstrip("/")
        if n in self.sources:
            return n
        for ext in self.extensions:
            if n.endswith(ext) and n[:-len(ext)] in self.sources:
                return n[:-len(ext)]
        raise TemplateNotFound(f"template {name!r} not found in the set")

    def parsed(self, name: str) -> Parsed:
        key = self.resolve(name)
        tpl = self._parsed.get(key) if self.cache else None
        if tpl is None:
            tpl = parse(key, self.sources[key], self.delims)
            if self.cache:
                self._parsed[key] = tpl
        return tpl

    def render(self, name: str, data: Any = None) -> str:
        return Renderer(self.parsed, self.globals).render(name, data if data is not None else {})


__all__ = ["Delims", "JetRenderError", "JetSyntaxError", "TemplateNotFound", "TemplateSet", "parse"]
