"""Python side of the `security` module: policy evaluation against the registry's policies."""
from __future__ import annotations

from ..engine.errors import WippyError, NOT_FOUND
from ..security.policy import allowed
from ..security.store import PolicyStore
from ..security.tokens import token_store


def store_of(engine) -> PolicyStore:
    node = engine.node
    store = getattr(node, "policies", None)
    if store is None:
        store = node.policies = PolicyStore(node.registry)
    return store


def install(engine):
    def actor_dict(actor):
        return engine.py(actor) if actor is not None else None

    def can(actor, scope, action, resource, meta=None):
        node = engine.node
        strict = getattr(node, "strict_security", False)
        if actor is None or scope is None:
            return not strict
        policies = store_of(engine).resolve(engine.py(scope) or [])
        return allowed(actor_dict(actor), policies, action, resource, engine.py(meta) if meta else None,
                       strict=strict)

    def evaluate(policy_id, actor, action, resource, meta=None):
        p = store_of(engine).get(policy_id)
        if p is None:
            raise WippyError(NOT_FOUND, f"policy {policy_id} not found")
        return p.evaluate(actor_dict(actor), action, resource, engine.py(meta) if meta else None)

    def exists(policy_id):
        return store_of(engine).get(policy_id) is not None

    def group(name):
        ids = store_of(engine).group(name)
        if not ids:
            raise WippyError(NOT_FOUND, f"no policies in group {name}")
        return engine.to_lua(ids)

    async def token_create(store_id, actor, scope, options=None):
        return await token_store(engine.node, store_id).create(engine.py(actor), engine.py(scope),
                                                               engine.py(options) if options else None)

    async def token_validate(store_id, token):
        return engine.to_lua(await token_store(engine.node, store_id).validate(engine.py(token)))

    async def token_revoke(store_id, token):
        return await token_store(engine.node, store_id).revoke(engine.py(token))

    def token_store_exists(store_id):
        token_store(engine.node, store_id)
        return True

    return {"can": can, "evaluate": evaluate, "exists": exists, "group": group, "token_create": token_create,
            "token_validate": token_validate, "token_revoke": token_revoke, "token_store": token_store_exists}
