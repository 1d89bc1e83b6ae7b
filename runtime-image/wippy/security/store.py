"""Policies as the registry holds them: decoded once per registry version."""
from __future__ import annotations

from ..kinds.models.catalog import validate_entry
from ..kinds.models.security import SecurityPolicy, SecurityPolicyExpr
from ..registry.entry import resolve_ref
from .policy import Condition, ExprPolicy, Policy


class PolicyStore:
    def __init__(self, registry):
        self.registry = registry
        self._version = -1
        self._policies: dict[str, Policy] = {}
        self._groups: dict[str, list[str]] = {}

    def _refresh(self) -> None:
        if self._version == self.registry.version:
            return
        policies: dict[str, Policy] = {}
        groups: dict[str, list[str]] = {}
        for entry in self.registry.entries():
            if entry.kind not in ("security.policy", "security.policy.expr"):
                continue
            model = validate_entry(entry)
            if isinstance(model, SecurityPolicyExpr):
                expr = model.policy
                policies[entry.id] = ExprPolicy(entry.id, expr.actions, expr.resources, expr.effect,
                                                expression=expr.expression)
            elif isinstance(model, SecurityPolicy):
                rule = model.policy
                policies[entry.id] = Policy(entry.id, rule.actions, rule.resources, rule.effect,
                                            tuple(Condition(c.field, c.operator, c.value, c.value_from)
                                                  for c in rule.conditions))
            else:
                continue
            for g in model.groups:
                groups.setdefault(resolve_ref(g, entry.ns), []).append(entry.id)
        self._policies, self._groups, self._version = policies, groups, self.registry.version

    def get(self, policy_id: str) -> Policy | None:
        self._refresh()
        return self._policies.get(policy_id)

    def resolve(self, ids: list[str]) -> list[Policy]:
        """Policies for a scope; ids that name no policy grant nothing."""
        self._refresh()
        return [self._policies[i] for i in ids if i in self._policies]

    def group(self, group: str) -> list[str]:
        self._refresh()
        return list(self._groups.get(group, []))


def service_identity(registry, security, ns: str) -> tuple[dict | None, list[str] | None]:
    """(actor, scope) a service runs under, from its lifecycle.security (None, None without an actor)."""
    if security is None or security.actor is None:
        return None, None
    scope = [resolve_ref(p, ns) for p in security.policies]
    store = PolicyStore(registry)
    for group in security.groups:
        scope += store.group(resolve_ref(group, ns))
    return {"id": security.actor.id, "meta": dict(security.actor.meta)}, scope
