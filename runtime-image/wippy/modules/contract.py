"""Python side of the `contract` module: contract definitions and bindings read from the
registry (names resolved to full ids), and the search for implementations."""
from __future__ import annotations

from ..engine.errors import INTERNAL, NOT_FOUND, WippyError
from ..registry.entry import resolve_ref


def install(engine):
    node = engine.node

    def entry(eid, kind, what):
        e = node.get_entry(eid)
        if e is None or e.kind != kind:
            raise WippyError(NOT_FOUND, f"{what} {eid} not found")
        from ..kinds.models.catalog import validate_entry
        return e, validate_entry(e)

    def definition(cid):
        e, m = entry(cid, "contract.definition", "contract")
        return engine.to_lua({"id": e.id, "methods": [
            {"name": x.name, "description": x.description,
             "input_schemas": [s.model_dump() for s in x.input_schemas],
             "output_schemas": [s.model_dump() for s in x.output_schemas]} for x in m.methods]})

    def binding(bid):
        e, m = entry(bid, "contract.binding", "binding")
        return engine.to_lua({"id": e.id, "contracts": [
            {"contract": resolve_ref(c.contract, e.ns), "default": c.default,
             "methods": {k: resolve_ref(v, e.ns) for k, v in c.methods.items()}} for c in m.contracts]})

    def bindings_of(cid):
        registry = getattr(node, "registry", None)
        if registry is None:
            raise WippyError(INTERNAL, "finding bindings needs the registry (not available on this node)")
        out = []
        for e in registry.entries():
            if e.kind != "contract.binding":
                continue
            for c in (e.data or {}).get("contracts") or []:
                if isinstance(c, dict) and isinstance(c.get("contract"), str) and resolve_ref(c["contract"], e.ns) == cid:
                    out.append((e.id, bool(c.get("default"))))
        return sorted(out)

    def implementations(cid):
        entry(cid, "contract.definition", "contract")
        return engine.to_lua([bid for bid, _ in bindings_of(cid)])

    def default_binding(cid):
        defaults = [bid for bid, d in bindings_of(cid) if d]
        if not defaults:
            raise WippyError(NOT_FOUND, f"contract {cid} has no default binding")
        return defaults[0]

    def validate(schema, value):
        """None when `value` fits the JSON schema, else why not."""
        from ..engine.convert import NO_LIMIT
        from .json import SchemaError, TooManySteps, Validator
        max_steps = engine.max_schema_steps or NO_LIMIT
        try:
            data = engine.py(value) if value is not None else None
            return Validator(engine.py(schema)).validate(data, True, max_steps)
        except TooManySteps:
            return f"schema error: validation took more than {max_steps} steps (max_schema_steps)"
        except (SchemaError, ValueError, RecursionError) as e:
            return f"schema error: {e}"

    return {"definition": definition, "binding": binding, "implementations": implementations,
            "default_binding": default_binding, "validate": validate}
