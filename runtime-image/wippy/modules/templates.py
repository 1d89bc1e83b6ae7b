"""Python side of the `templates` module: Jet template sets from template.set/template.jet
entries, rebuilt when the registry version changes (every render in development mode)."""
from __future__ import annotations

import asyncio

from ..engine.errors import INTERNAL, NOT_FOUND, WippyError
from ..jet import Delims, JetRenderError, JetSyntaxError, TemplateNotFound, TemplateSet
from ..registry.entry import resolve_ref


def _build(node, set_id: str) -> TemplateSet:
    from ..kinds.models.catalog import validate_entry_as
    from ..kinds.models.templates import TemplateSet as TemplateSetModel
    registry = getattr(node, "registry", None)
    set_entry = node.get_entry(set_id)
    if set_entry is None or set_entry.kind != "template.set":
        raise WippyError(NOT_FOUND, f"template set {set_id} not found")
    if registry is None:
        raise WippyError(INTERNAL, "template sets need the registry (not available on this node)")
    cache = node.__dict__.setdefault("template_sets", {})
    hit = cache.get(set_id)
    if hit is not None and hit[0] == registry.version:
        return hit[1]
    cfg = validate_entry_as(set_entry, TemplateSetModel).engine
    sources: dict[str, str] = {}
    for e in registry.entries():
        if e.kind != "template.jet":
            continue
        data = e.data if isinstance(e.data, dict) else {}
        ref = data.get("set")
        if not isinstance(ref, str) or resolve_ref(ref, e.ns) != set_id:
            continue
        sources[str(e.meta.get("name") or e.name)] = str(data.get("source", ""))
    d = cfg.delimiters
    tset = TemplateSet(sources, delims=Delims(d.left, d.right, d.comment_left, d.comment_right),
                       extensions=cfg.extensions, globals_=dict(cfg.globals), cache=not cfg.development_mode)
    if not cfg.development_mode:
        cache[set_id] = (registry.version, tset)
    return tset


def install(engine):
    node = engine.node

    def get(set_id):
        _build(node, set_id)
        return True

    async def render(set_id, name, data):
        tset = _build(node, set_id)
        values = engine.py(data) if data is not None else {}
        try:
            # a render may loop over large data: it runs in a worker thread, off the event loop
            return await asyncio.get_running_loop().run_in_executor(None, tset.render, name, values)
        except TemplateNotFound as e:
            raise WippyError(NOT_FOUND, str(e)) from None
        except (JetSyntaxError, JetRenderError) as e:
            raise WippyError(INTERNAL, f"render {name}: {e}") from None
        except RecursionError:
            raise WippyError(INTERNAL, f"render {name}: nested too deeply") from None

    return {"get": get, "render": render}
