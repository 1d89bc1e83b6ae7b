"""MCP tokens in a token store over Redis (scripts/services.sh): what one process issues another
accepts, lists and, once revoked, refuses as revoked."""
from __future__ import annotations

import uuid

import pytest

from tests.data.conftest import services  # noqa: F401 - the fixture
from wippy.mcp.tokens import Unauthorized, open_tokens
from wippy.registry import Entry

pytestmark = pytest.mark.databases


async def test_mcp_tokens_in_a_redis_token_store(services, tmp_path):  # noqa: F811
    entries = {
        "app:kv": Entry("app:kv", "store.redis", {}, {"url": services["WIPPY_REDIS_URL"],
                                                      "key_prefix": f"mcp-{uuid.uuid4().hex[:8]}:"}),
        "app:tokens": Entry("app:tokens", "security.token_store", {}, {"store": "kv", "token_key": "a-key"}),
    }
    issuer = open_tokens("app:tokens", tmp_path / ".wippy", lambda: entries)
    server = open_tokens("app:tokens", tmp_path / ".wippy", lambda: entries)   # as another process opens it
    try:
        grant, secret = await issuer.issue("bot", ["app"], ["function.lua"], ["read", "lint"], "1h")
        got = await server.authenticate(secret)
        assert (got.id, got.actor, got.namespaces, got.kinds, got.actions) == (
            grant.id, "bot", ["app"], ["function.lua"], ["read", "lint"])
        assert [g.id for g in await server.list()] == [grant.id]
        await issuer.revoke(grant.id)
        with pytest.raises(Unauthorized, match=rf"token {grant.id} \(bot\) was revoked"):
            await server.authenticate(secret)
        assert [g.revoked_at is not None for g in await server.list()] == [True]
    finally:
        issuer.close()
        server.close()
