"""security.token_store: opaque tokens standing for an actor and a scope, kept in a store.

A token is `token_length` random bytes (base64url), followed, when the entry has a `token_key`, by
an HMAC-SHA256 tag of them, so a forged token is refused before any store lookup. The store's key
is the SHA-256 of the token: what the store holds cannot be used as a token.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from typing import Any

from ..durations import parse_duration
from ..engine.errors import INVALID, NOT_FOUND, PERMISSION_DENIED, WippyError
from ..registry.entry import resolve_ref

PREFIX = "wippy.token:"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class TokenStore:
    def __init__(self, entry_id: str, model, store):
        self.entry_id = entry_id
        self.length = model.token_length
        self.default_expiration = model.default_expiration
        self.key = model.token_key.encode() if model.token_key else None
        self.store = store

    @staticmethod
    def _tag(key: bytes, body: str) -> str:
        return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())

    def _key(self, token: str) -> str:
        return PREFIX + hashlib.sha256(token.encode()).hexdigest()

    async def create(self, actor: dict, scope: list[str] | None, options: dict | None = None) -> str:
        if not isinstance(actor, dict) or not actor.get("id"):
            raise WippyError(INVALID, "token_store:create needs an actor")
        options = options or {}
        ttl = options.get("expiration")
        ttl = self.default_expiration if ttl is None else parse_duration(ttl)
        if ttl <= 0:
            raise WippyError(INVALID, "token_store:create: expiration must be positive")
        token = _b64(secrets.token_bytes(self.length))
        if self.key is not None:
            token += "." + self._tag(self.key, token)
        record = {"actor": {"id": actor["id"], "meta": actor.get("meta") or {}}, "scope": list(scope or []),
                  "meta": options.get("meta") or {}, "expires_at": time.time() + ttl}
        await self.store.set(self._key(token), record, ttl)
        return token

    async def validate(self, token: Any) -> dict:
        if not isinstance(token, str) or not token:
            raise WippyError(INVALID, "token must be a non-empty string")
        if self.key is not None:
            body, _, tag = token.rpartition(".")
            if not body or not hmac.compare_digest(tag, self._tag(self.key, body)):
                raise WippyError(PERMISSION_DENIED, "invalid token")
        try:
            record = await self.store.get(self._key(token))
        except WippyError as e:
            if e.kind == NOT_FOUND:
                raise WippyError(PERMISSION_DENIED, "invalid or expired token") from None
            raise
        if record.get("expires_at", 0) < time.time():
            raise WippyError(PERMISSION_DENIED, "invalid or expired token")
        return record

    async def revoke(self, token: Any) -> bool:
        if not isinstance(token, str) or not token:
            raise WippyError(INVALID, "token must be a non-empty string")
        return bool(await self.store.delete(self._key(token)))


def token_store(node, entry_id: str) -> TokenStore:
    """The token store of an entry, over its store resource (built per call: both are cheap)."""
    from ..data import Resources
    from ..kinds.models.catalog import validate_entry_as
    from ..kinds.models.security import TokenStore as TokenStoreModel
    entry = node.get_entry(entry_id)
    if entry is None or entry.kind != "security.token_store":
        raise WippyError(NOT_FOUND, f"token store {entry_id} not found")
    res = Resources.of(node)
    # through the runtime, ${env:...} in token_key is resolved (the registry keeps it unresolved)
    model = res.runtime.decode(entry) if res.runtime is not None else validate_entry_as(entry, TokenStoreModel)
    store = res.store(resolve_ref(model.store, entry.ns))
    return TokenStore(entry_id, model, store)
