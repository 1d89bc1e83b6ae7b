"""template.set and template.jet: a template with a syntax error is refused with its file and
line; renders read the set's templates from the registry (the `templates` module)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...jet import Delims, JetSyntaxError, parse
from ...registry import Op, Rejected
from ...registry.entry import resolve_ref

if TYPE_CHECKING:
    from ...runtime import Runtime


class TemplateHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        entry = op.entry
        if op.action == "delete" or entry.kind != "template.jet":
            return
        from ..models.catalog import validate_entry_as
        from ..models.templates import TemplateJet, TemplateSet
        model = validate_entry_as(entry, TemplateJet)
        delims = Delims()
        set_entry = self.runtime.registry.get(resolve_ref(model.set, entry.ns))
        if set_entry is not None and set_entry.kind == "template.set":
            d = validate_entry_as(set_entry, TemplateSet).engine.delimiters
            delims = Delims(d.left, d.right, d.comment_left, d.comment_right)
        try:
            parse(entry.meta.get("name") or entry.name, model.source, delims)
        except JetSyntaxError as e:
            where = f"{entry.source}: " if entry.source else ""
            raise Rejected(f"{where}{entry.id} (template.jet): {e}") from None
