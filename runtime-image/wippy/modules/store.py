"""Python side of the `store` module: key-value stores declared as store.* entries."""
from __future__ import annotations

from ..data import Resources


def install(engine):
    res = lambda: Resources.of(engine.node)  # noqa: E731

    def get(entry_id):
        s = res().store(entry_id)
        s._check()
        return s.type

    async def sget(entry_id, key):
        return engine.to_lua(await res().store(entry_id).get(key))

    async def sset(entry_id, key, value, ttl):
        return await res().store(entry_id).set(key, engine.py(value), ttl)

    async def shas(entry_id, key):
        return await res().store(entry_id).has(key)

    async def sdelete(entry_id, key):
        return await res().store(entry_id).delete(key)

    return {"get": get, "sget": sget, "sset": sset, "shas": shas, "sdelete": sdelete}
