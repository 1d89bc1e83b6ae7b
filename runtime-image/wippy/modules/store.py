"""Python side of the `store` module: key-value stores declared as store.* entries."""
from __future__ import annotations

from ..data import Resources
from ..data.store import list_options
from ..engine.errors import INVALID, WippyError


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

    async def sentry(entry_id, key):
        return engine.to_lua(await res().store(entry_id).entry(key))

    async def sput(entry_id, key, value, ttl, only_if_absent, if_version):
        if only_if_absent and if_version is not None:
            raise WippyError(INVALID, "store: only_if_absent and if_version are mutually exclusive", False)
        if if_version is not None and not isinstance(if_version, str):
            raise WippyError(INVALID, "store: if_version must be a version string (from entry or put)", False)
        return engine.to_lua(await res().store(entry_id).put(key, engine.py(value), ttl, bool(only_if_absent),
                                                             if_version))

    async def slist(entry_id, prefix, after, limit):
        return engine.to_lua(await res().store(entry_id).list(*list_options(prefix, after, limit)))

    def sinfo(entry_id):
        return engine.to_lua(res().store(entry_id).info())

    return {"get": get, "sget": sget, "sset": sset, "shas": shas, "sdelete": sdelete, "sentry": sentry,
            "sput": sput, "slist": slist, "sinfo": sinfo}
