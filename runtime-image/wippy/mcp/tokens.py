"""Scoped, revocable MCP tokens, kept in a `security.token_store` entry.

A token is one of the store's tokens (random bytes, HMAC-signed when the entry has a `token_key`,
kept under the SHA-256 of the token), whose record carries the grant: the actor, and the actions
on entries whose namespace and kind match its patterns. Beside it the store keeps the grant by id
(`wippy.mcp.grant:<id>`, for `list` and `revoke`, never the secret) and a revocation marker under
the token's hash (so a revoked token is refused as revoked, not as unknown). Every check reads the
store again: a revocation holds from the next call on, in every process that uses the store.

Which store: the `security.token_store` entry named by `--token-store` (or WIPPY_MCP_TOKEN_STORE),
read from the app's files (or, on Kubernetes, its custom resources) and opened in this process, so
its `store` must be one that processes share (store.sql or store.redis; a store.memory lives in
one process and is refused). Without one, the default is the same kind over SQLite in the app's
`.wippy/mcp-tokens.db`, signed with a key generated into `.wippy/mcp-token.key`.
"""
from __future__ import annotations

import fnmatch
import hmac
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ..engine.errors import INVALID, NOT_FOUND, PERMISSION_DENIED, WippyError
from ..registry import Entry

# What a token may be granted. `read`: list, find, read entries and source, history and diffs;
# `lint`: check a proposed change; `create`/`update`/`delete`: the ops of a changeset; `test`: run
# tests; `rollback`: move the app to another version; `observe`: an entry's logs and metrics.
ACTIONS = ("read", "lint", "create", "update", "delete", "test", "rollback", "observe")

DEFAULT_STORE = "wippy.mcp:tokens"
DEFAULT_EXPIRATION = "720h"   # of the default store: 30 days
GRANTS = "wippy.mcp.grant:"
REVOKED = "wippy.mcp.revoked:"


class Unauthorized(WippyError):
    def __init__(self, message: str):
        super().__init__(PERMISSION_DENIED, message)


@dataclass
class Grant:
    id: str
    actor: str
    namespaces: list[str] = field(default_factory=lambda: ["*"])
    kinds: list[str] = field(default_factory=lambda: ["*"])
    actions: list[str] = field(default_factory=lambda: list(ACTIONS))
    created_at: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None
    # the token's scope in the policy model: security.policy entries (by id, and by group) that
    # must allow `mcp.<action>` on the entry id for the actor, as well (deny by default)
    policies: list[str] = field(default_factory=list)
    policy_groups: list[str] = field(default_factory=list)
    # (action, entry id, kind) -> allowed, set by the app from its policies when the token has some
    judge: Callable[[str, str, str | None], bool] | None = field(default=None, repr=False, compare=False)

    def covers(self, entry_id: str, kind: str | None, action: str = "read") -> bool:
        return self._matches(entry_id, kind) and (self.judge is None or self.judge(action, entry_id, kind))

    def _matches(self, entry_id: str, kind: str | None) -> bool:
        ns = entry_id.rpartition(":")[0]
        return (any(fnmatch.fnmatchcase(ns, p) for p in self.namespaces)
                and (kind is None or any(fnmatch.fnmatchcase(kind, p) for p in self.kinds)))

    def require(self, action: str, entry_id: str | None = None, kind: str | None = None) -> None:
        """Raise Unauthorized unless this grant allows ``action`` (on ``entry_id`` of ``kind``)."""
        if action not in self.actions:
            raise Unauthorized(f"token {self.id} ({self.actor}) may not {action}")
        if entry_id is None or self.covers(entry_id, kind, action):
            return
        what = f"{entry_id}" + (f" ({kind})" if kind else "")
        if not self._matches(entry_id, kind):
            raise Unauthorized(f"token {self.id} ({self.actor}) may not {action} {what}: outside its "
                               f"namespaces {self.namespaces} / kinds {self.kinds}")
        raise Unauthorized(f"token {self.id} ({self.actor}) may not {action} {what}: its policies "
                           f"({', '.join(self.policies + self.policy_groups)}) do not allow mcp.{action} on it")

    def public(self) -> dict:
        d = asdict(self)
        d.pop("judge")
        return d


def _grant(d: dict) -> Grant:
    return Grant(**{k: d[k] for k in Grant.__dataclass_fields__ if k in d and k != "judge"})


def policy_judge(grant: Grant, entries: list[Entry]) -> Callable[[str, str, str | None], bool] | None:
    """What the grant's policies (among ``entries``) allow: `mcp.<action>` on an entry id, for the
    token's actor, with the entry's kind as `meta.kind`; None when the token names no policies."""
    if not grant.policies and not grant.policy_groups:
        return None
    from types import SimpleNamespace

    from ..security.policy import allowed
    from ..security.store import PolicyStore
    store = PolicyStore(SimpleNamespace(version=0, entries=lambda: entries))
    ids = list(grant.policies) + [pid for g in grant.policy_groups for pid in store.group(g)]
    policies = store.resolve(ids)
    actor = {"id": grant.actor, "meta": {}}
    return lambda action, entry_id, kind: allowed(actor, policies, f"mcp.{action}", entry_id,
                                                  {"kind": kind} if kind else None, strict=True)


class McpTokens:
    """MCP grants over a `security.token_store` (security/tokens.py) and the resources it uses."""

    def __init__(self, store, resources, where: str):
        self.tokens = store          # security.tokens.TokenStore
        self.kv = store.store        # its store.* resource
        self.resources = resources
        self.where = where           # for messages: which entry keeps the tokens

    async def issue(self, actor: str, namespaces: list[str], kinds: list[str], actions: list[str],
                    expiration: str | None = None, policies: Sequence[str] = (),
                    policy_groups: Sequence[str] = ()) -> tuple[Grant, str]:
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise WippyError(INVALID, f"unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")
        if not actor:
            raise WippyError(INVALID, "a token needs an actor")
        grant = Grant(id=secrets.token_hex(4), actor=actor, namespaces=list(namespaces) or ["*"],
                      kinds=list(kinds) or ["*"], actions=list(actions), created_at=time.time(),
                      policies=list(policies), policy_groups=list(policy_groups))
        options: dict[str, Any] = {"meta": {"mcp": grant.public()}}
        if expiration:
            options["expiration"] = expiration
        secret = await self.tokens.create({"id": actor, "meta": {}}, grant.policies, options)
        record = await self.tokens.validate(secret)
        grant.expires_at = record["expires_at"]
        await self.kv.set(GRANTS + grant.id, grant.public() | {"key": self.tokens._key(secret)},
                          max(1.0, grant.expires_at - time.time()))
        return grant, secret

    async def authenticate(self, secret: str | None) -> Grant:
        if not secret:
            raise Unauthorized("no MCP token given (Authorization: Bearer <token>, or WIPPY_MCP_TOKEN)")
        unknown = Unauthorized(f"unknown or expired MCP token (token store {self.where})")
        if self.tokens.key is not None:   # a token this store's key did not sign is no business of it
            body, _, tag = secret.rpartition(".")
            if not body or not hmac.compare_digest(tag, self.tokens._tag(self.tokens.key, body)):
                raise unknown
        try:
            record = await self.tokens.validate(secret)
        except WippyError as e:
            if e.kind not in (PERMISSION_DENIED, INVALID):
                raise
            revoked = await self._get(REVOKED + self.tokens._key(secret))
            if revoked is not None:
                raise Unauthorized(f"token {revoked['id']} ({revoked['actor']}) was revoked") from None
            raise unknown from None
        mcp = (record.get("meta") or {}).get("mcp")
        if not isinstance(mcp, dict):
            raise Unauthorized(f"not an MCP token (token store {self.where})")
        return _grant(mcp)

    async def revoke(self, token_id: str) -> Grant:
        d = await self._get(GRANTS + token_id)
        if d is None:
            raise WippyError(NOT_FOUND, f"no token {token_id} in token store {self.where} (or it expired)")
        grant = _grant(d)
        if grant.revoked_at is None:
            grant.revoked_at = time.time()
            ttl = max(1.0, (grant.expires_at or time.time()) - time.time())
            await self.kv.set(REVOKED + d["key"], {"id": grant.id, "actor": grant.actor}, ttl)
            await self.kv.delete(d["key"])
            await self.kv.set(GRANTS + token_id, grant.public() | {"key": d["key"]}, ttl)
        return grant

    async def list(self) -> list[Grant]:
        out, after = [], None
        while True:
            page = await self.kv.list(GRANTS, after, 100)
            out += [_grant(item["value"]) for item in page["items"]]
            if not page.get("has_more"):
                return sorted(out, key=lambda g: g.created_at)
            after = page["items"][-1]["key"]

    async def _get(self, key: str) -> dict | None:
        try:
            return await self.kv.get(key)
        except WippyError as e:
            if e.kind == NOT_FOUND:
                return None
            raise

    def close(self) -> None:
        self.resources.close_all()


class _Entries:
    """The node a token store's resources are built on: entries by id, `${env:...}` resolved
    from this process's environment."""

    def __init__(self, entries: dict[str, Entry]):
        self.entries = entries

    def get_entry(self, entry_id: str) -> Entry | None:
        from dataclasses import replace

        from ..loader.interpolate import resolve_entry_data
        e = self.entries.get(entry_id)
        return None if e is None else replace(e, data=resolve_entry_data(e.data, os.environ.get))


def default_entries(data_dir: Path) -> dict[str, Entry]:
    """The default token store: a security.token_store over SQLite in ``data_dir``."""
    data_dir.mkdir(parents=True, exist_ok=True)
    key_file = data_dir / "mcp-token.key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32))
    db = data_dir / "mcp-tokens.db"
    if not db.exists():   # grants and hashes only, yet nobody else's to read
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    return {
        DEFAULT_STORE: Entry(DEFAULT_STORE, "security.token_store", {},
                             {"store": "token_kv", "token_key": key_file.read_text().strip(),
                              "default_expiration": DEFAULT_EXPIRATION}),
        "wippy.mcp:token_kv": Entry("wippy.mcp:token_kv", "store.sql", {},
                                    {"database": "token_db", "table_name": "mcp_tokens"}),
        "wippy.mcp:token_db": Entry("wippy.mcp:token_db", "db.sql.sqlite", {},
                                    {"file": str(db)}),
    }


def open_tokens(store_id: str | None, data_dir: Path,
                entries: Callable[[], dict[str, Entry]]) -> McpTokens:
    """The MCP tokens of the `security.token_store` entry ``store_id`` among ``entries()`` (read
    only when one is named), else of the default store in ``data_dir``."""
    from ..data import Resources
    from ..kinds.models.catalog import validate_entry_as
    from ..kinds.models.security import TokenStore as TokenStoreModel
    from ..registry.entry import resolve_ref
    from ..security.tokens import TokenStore
    if store_id is None:
        found, where = default_entries(data_dir), f"{DEFAULT_STORE} ({data_dir / 'mcp-tokens.db'})"
        store_id = DEFAULT_STORE
    else:
        found, where = entries(), store_id
    node = _Entries(found)
    entry = node.get_entry(store_id)
    if entry is None or entry.kind != "security.token_store":
        raise WippyError(NOT_FOUND, f"no security.token_store entry {store_id} in the app "
                                    f"({'a ' + entry.kind if entry else 'no such entry'})")
    model = validate_entry_as(entry, TokenStoreModel)
    kv_id = resolve_ref(model.store, entry.ns)
    kv = node.get_entry(kv_id)
    if kv is not None and kv.kind == "store.memory":
        raise WippyError(INVALID, f"token store {store_id} keeps its tokens in {kv_id}, a store.memory: that "
                                  "lives inside one process, and MCP tokens are issued, checked and revoked by "
                                  "several (wippy mcp, wippy mcp-token); use a store.sql or store.redis")
    res = Resources(node)
    res.base_dir = data_dir.parent
    return McpTokens(TokenStore(store_id, model, res.store(kv_id)), res, where)
