"""Template kinds: template.set (a namespace of Jet templates) and template.jet (one template)."""

from __future__ import annotations

import builtins
from typing import Any

from pydantic import Field

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.types import EntryRef
from wippy.registry.entry import resolve_ref


class Delimiters(ConfigModel):
    left: str = Field("{{", min_length=1, description="Action opening delimiter.")
    right: str = Field("}}", min_length=1, description="Action closing delimiter.")
    comment_left: str = Field("{*", min_length=1, description="Comment opening delimiter.")
    comment_right: str = Field("*}", min_length=1, description="Comment closing delimiter.")


class TemplateEngine(ConfigModel):
    development_mode: bool = Field(False, description="Parse templates on every render (no caching).")
    delimiters: Delimiters = Field(default_factory=Delimiters, description="Template delimiters.")
    extensions: list[str] = Field([".jet", ".html.jet", ".jet.html"],
                                  description="Extensions stripped when templates name each other.")
    globals: dict[str, Any] = Field(default_factory=dict, description="Variables every template of the set sees.")


class TemplateSet(KindModel):
    kind = "template.set"

    engine: TemplateEngine = Field(default_factory=TemplateEngine, description="Set configuration.")


class TemplateJet(KindModel):
    kind = "template.jet"

    set: EntryRef = Field(description="The template.set this template belongs to.")
    source: str = Field(description="Template text (Jet syntax).")

    def references(self, entry_ns: str) -> builtins.set[str]:   # `set` is the field here
        return {resolve_ref(self.set, entry_ns)}
