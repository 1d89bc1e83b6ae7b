"""Python side of the `eval_runner` module: the classes of every module (for the allowlist)."""
from __future__ import annotations


def install(engine):
    from . import INTERNAL, SPECS

    def classes():
        return engine.to_lua({s.name: sorted(s.classes) for s in SPECS if s.name not in INTERNAL})
    def cache_settings():
        # the app's .wippy.yaml lua.eval (wippy/app_config.py), set on the node by the runtime
        cfg = getattr(engine.node, "eval_cache", None)   # (a workflow node has none)
        return (cfg.size, cfg.ttl) if cfg is not None else (256, 0.0)
    return {"classes": classes, "cache_settings": cache_settings}
