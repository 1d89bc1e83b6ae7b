"""Scoped, revocable MCP tokens.

A token names an actor and grants actions on entries whose namespace and kind match its
patterns. Only a SHA-256 of the secret is stored; the store is read again on every check, so a
revocation holds from the next call on. The store is a JSON file in the app's `.wippy/`; it
sits behind the small `TokenStore` interface so a `security.token_store` entry can back it later.
"""
from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from ..engine.errors import PERMISSION_DENIED, WippyError

# What a token may be granted. `read`: list, find, read entries and source, history and diffs;
# `lint`: check a proposed change; `create`/`update`/`delete`: the ops of a changeset; `test`: run
# tests; `rollback`: move the app to another version; `observe`: an entry's logs and metrics.
ACTIONS = ("read", "lint", "create", "update", "delete", "test", "rollback", "observe")
PREFIX = "wmcp_"


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
    revoked_at: float | None = None
    hash: str = ""

    def covers(self, entry_id: str, kind: str | None) -> bool:
        ns = entry_id.rpartition(":")[0]
        return (any(fnmatch.fnmatchcase(ns, p) for p in self.namespaces)
                and (kind is None or any(fnmatch.fnmatchcase(kind, p) for p in self.kinds)))

    def require(self, action: str, entry_id: str | None = None, kind: str | None = None) -> None:
        """Raise Unauthorized unless this grant allows ``action`` (on ``entry_id`` of ``kind``)."""
        if action not in self.actions:
            raise Unauthorized(f"token {self.id} ({self.actor}) may not {action}")
        if entry_id is not None and not self.covers(entry_id, kind):
            what = f"{entry_id}" + (f" ({kind})" if kind else "")
            raise Unauthorized(f"token {self.id} ({self.actor}) may not {action} {what}: outside its "
                               f"namespaces {self.namespaces} / kinds {self.kinds}")

    def public(self) -> dict:
        d = asdict(self)
        d.pop("hash")
        return d


class TokenStore(Protocol):
    def issue(self, actor: str, namespaces: list[str], kinds: list[str], actions: list[str]) -> tuple[Grant, str]: ...
    def authenticate(self, secret: str | None) -> Grant: ...
    def revoke(self, token_id: str) -> Grant: ...
    def list(self) -> list[Grant]: ...


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class FileTokenStore:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _load(self) -> list[Grant]:
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        return [Grant(**g) for g in doc.get("tokens", [])]

    def _save(self, grants: list[Grant]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"tokens": [asdict(g) for g in grants]}, f, indent=2)
        os.replace(tmp, self.path)

    def issue(self, actor: str, namespaces: list[str], kinds: list[str], actions: list[str]) -> tuple[Grant, str]:
        unknown = sorted(set(actions) - set(ACTIONS))
        if unknown:
            raise WippyError("Invalid", f"unknown action(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")
        if not actor:
            raise WippyError("Invalid", "a token needs an actor")
        secret = PREFIX + secrets.token_hex(32)
        grants = self._load()
        grant = Grant(id=secrets.token_hex(4), actor=actor, namespaces=list(namespaces) or ["*"],
                      kinds=list(kinds) or ["*"], actions=list(actions), created_at=time.time(),
                      hash=_digest(secret))
        grants.append(grant)
        self._save(grants)
        return grant, secret

    def authenticate(self, secret: str | None) -> Grant:
        if not secret:
            raise Unauthorized("no MCP token given (Authorization: Bearer wmcp_..., or WIPPY_MCP_TOKEN)")
        digest = _digest(secret)
        for g in self._load():
            if hmac.compare_digest(g.hash, digest):
                if g.revoked_at is not None:
                    raise Unauthorized(f"token {g.id} ({g.actor}) was revoked")
                return g
        raise Unauthorized("unknown MCP token")

    def revoke(self, token_id: str) -> Grant:
        grants = self._load()
        for g in grants:
            if g.id == token_id:
                if g.revoked_at is None:
                    g.revoked_at = time.time()
                    self._save(grants)
                return g
        raise WippyError("NotFound", f"no token {token_id}")

    def list(self) -> list[Grant]:
        return self._load()
