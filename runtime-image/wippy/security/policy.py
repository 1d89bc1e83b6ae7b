"""Policy evaluation (reference §6).

A policy matches an action and a resource (`*`, exact, or a trailing `prefix*` / `prefix.*`),
then every condition must hold; a policy that does not match, or whose condition cannot be
evaluated, is `undefined` (never an implicit deny). A scope is a set of policies: any `deny`
wins, else `allow` if one allows, else `undefined`. A check with both an actor and a scope is
allowed only on `allow`; without them it is allowed unless strict mode is on.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

ALLOW, DENY, UNDEFINED = "allow", "deny", "undefined"


def pattern_matches(patterns: str | list[str], value: str) -> bool:
    for p in [patterns] if isinstance(patterns, str) else patterns:
        if p == "*" or p == value:
            return True
        if p.endswith("*") and value.startswith(p[:-1].rstrip(".") if p.endswith(".*") else p[:-1]):
            return True
    return False


def _field(path: str, ctx: dict) -> Any:
    cur: Any = ctx
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise KeyError(path)
        cur = cur[part]
    return cur


def _compare(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if op in ("lt", "gt", "lte", "gte"):
        return {"lt": left < right, "gt": left > right, "lte": left <= right, "gte": left >= right}[op]
    if op == "in":
        return left in right
    if op == "nin":
        return left not in right
    if op == "contains":
        return right in left
    if op == "ncontains":
        return right not in left
    if op == "matches":
        return re.search(right, str(left)) is not None
    if op == "nmatches":
        return re.search(right, str(left)) is None
    raise ValueError(f"unknown operator {op!r}")


@dataclass(frozen=True)
class Condition:
    field: str
    operator: str
    value: Any = None
    value_from: str | None = None

    def holds(self, ctx: dict) -> bool:
        if self.operator in ("exists", "nexists"):
            try:
                _field(self.field, ctx)
                present = True
            except KeyError:
                present = False
            return present if self.operator == "exists" else not present
        left = _field(self.field, ctx)
        right = _field(self.value_from, ctx) if self.value_from else self.value
        return _compare(self.operator, left, right)


@dataclass(frozen=True)
class Policy:
    id: str
    actions: str | list[str]
    resources: str | list[str]
    effect: str = ALLOW
    conditions: tuple[Condition, ...] = field(default_factory=tuple)

    def evaluate(self, actor: dict | None, action: str, resource: str, meta: dict | None = None) -> str:
        if not pattern_matches(self.actions, action) or not pattern_matches(self.resources, resource):
            return UNDEFINED
        ctx = {"actor": actor or {}, "action": action, "resource": resource, "meta": meta or {}}
        try:
            if all(c.holds(ctx) for c in self.conditions):
                return self.effect
        except (KeyError, TypeError, ValueError, re.error):
            pass
        return UNDEFINED


@dataclass(frozen=True)
class ExprPolicy(Policy):
    """security.policy.expr: matches when its expression is true (an error or a non-boolean: undefined)."""
    expression: str = "false"

    def evaluate(self, actor: dict | None, action: str, resource: str, meta: dict | None = None) -> str:
        if not pattern_matches(self.actions, action) or not pattern_matches(self.resources, resource):
            return UNDEFINED
        from ..exprlang import compile_cached, run
        env = {"actor": actor or {}, "action": action, "resource": resource, "meta": meta or {}}
        try:
            return self.effect if run(compile_cached(self.expression), env) is True else UNDEFINED
        except (ValueError, TypeError, KeyError, RecursionError):
            return UNDEFINED


def evaluate_scope(policies: Iterable[Policy], actor: dict | None, action: str, resource: str,
                   meta: dict | None = None) -> str:
    result = UNDEFINED
    for p in policies:
        r = p.evaluate(actor, action, resource, meta)
        if r == DENY:
            return DENY
        if r == ALLOW:
            result = ALLOW
    return result


def allowed(actor: dict | None, policies: list[Policy] | None, action: str, resource: str,
            meta: dict | None = None, *, strict: bool = False) -> bool:
    if actor is None or policies is None:
        return not strict
    return evaluate_scope(policies, actor, action, resource, meta) == ALLOW
