"""Python side of the `eval_runner` module: the classes of every module (for the allowlist)."""
from __future__ import annotations


def install(engine):
    from . import INTERNAL, SPECS

    def classes():
        return engine.to_lua({s.name: sorted(s.classes) for s in SPECS if s.name not in INTERNAL})
    return {"classes": classes}
