"""The `env` module: env.get/set/get_all over env.variable entries and their storages
(env.storage.*). A name no env.variable declares reads the OS environment; env.set of such
a name goes to a node-local memory overlay."""
from __future__ import annotations

from ..data import Resources
from ..data.env import MemoryEnv, OsEnv, variables
from ..engine.errors import WippyError, INVALID, NOT_FOUND


def install(engine):
    res = lambda: Resources.of(engine.node)  # noqa: E731

    def overlay() -> MemoryEnv:
        r = res()
        o = getattr(r, "env_overlay", None)
        if o is None:
            o = r.env_overlay = MemoryEnv()
        return o

    def _key(key):
        if not isinstance(key, str) or not key:
            raise WippyError(INVALID, "env: key must be a non-empty string")
        return key

    def get(key):
        key = _key(key)
        v = variables(res()).get(key)
        value = v.get() if v is not None else (overlay().get(key) or OsEnv().get(key))
        if value is None:
            raise WippyError(NOT_FOUND, f"environment variable {key} not found")
        return value

    def set_(key, value):
        key = _key(key)
        if value is None:
            raise WippyError(INVALID, "env.set: value must not be nil")
        value = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        v = variables(res()).get(key)
        if v is not None:
            v.set(value)
        else:
            overlay().set(key, value)
        return True

    def get_all():
        out = dict(overlay().all())
        for name, v in variables(res()).items():
            value = v.get()
            if value is not None:
                out[name] = value
        return engine.to_lua(out)

    return {"get": get, "set": set_, "get_all": get_all}
