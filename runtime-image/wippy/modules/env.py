"""Python side of the `env` module and the store it reads.

`EnvStore` is what the module talks to: the process environment seen through an in-memory
overlay, so `env.set` never changes `os.environ`. A node may provide its own store as
`node.env` (the env registry with `env.storage.*` kinds will plug in there); otherwise each
node gets a default store of its own.
"""
from __future__ import annotations

import os
import threading
import weakref
from typing import Mapping, MutableMapping

from ..engine.errors import WippyError, NOT_FOUND


class EnvStore:
    """Variables of one node: a base mapping (default: os.environ, read live) plus an overlay."""

    def __init__(self, base: Mapping[str, str] | None = None, overlay: MutableMapping[str, str] | None = None):
        self._base = os.environ if base is None else base
        self._overlay: MutableMapping[str, str] = {} if overlay is None else overlay
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            v = self._overlay.get(key)
        if v is not None:
            return v
        return self._base.get(key)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            self._overlay[key] = value

    def all(self) -> dict[str, str]:
        out = dict(self._base)
        with self._lock:
            out.update(self._overlay)
        return out


_defaults: "weakref.WeakKeyDictionary[object, EnvStore]" = weakref.WeakKeyDictionary()
_defaults_lock = threading.Lock()


def store_for(node) -> EnvStore:
    """The store of a node: `node.env` when the node has one, else the node's default."""
    store = getattr(node, "env", None)
    if store is not None:
        return store
    with _defaults_lock:
        store = _defaults.get(node)
        if store is None:
            store = _defaults[node] = EnvStore()
        return store


def _lua_str(s: str) -> str | bytes:
    # os.environ holds undecodable bytes as surrogate escapes: give Lua the original bytes
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-8", "surrogateescape")


def install(engine):
    def get(key: str):
        value = store_for(engine.node).get(key)
        if value is None:
            raise WippyError(NOT_FOUND, f"environment variable not found: {key}", False)
        return _lua_str(value)

    def set_(key: str, value: str):
        store_for(engine.node).set(key, value)
        return True

    def get_all():
        return engine.to_lua({_lua_str(k): _lua_str(v) for k, v in store_for(engine.node).all().items()})

    return {"get": get, "set": set_, "get_all": get_all}
