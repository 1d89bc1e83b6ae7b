"""security.policy and security.policy.expr: rules granting or denying actions on resources;
security.token_store: tokens that stand for an actor and a scope."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class PolicyCondition(ConfigModel):
    field: str = Field(description="What to test: actor.id, actor.meta.<key>, action, resource or meta.<key>.")
    operator: Literal["eq", "ne", "lt", "gt", "lte", "gte", "in", "nin", "exists", "nexists", "contains",
                      "ncontains", "matches", "nmatches"] = Field(description="Comparison operator.")
    value: Any = Field(None, description="Value compared against.")
    value_from: str | None = Field(None, description="Take the compared value from this field instead.")


class PolicyRule(ConfigModel):
    actions: str | list[str] = Field(description="Actions matched: '*', exact names, or a trailing 'prefix*'.")
    resources: str | list[str] = Field(description="Resources matched: '*', exact ids, or a trailing 'prefix*'.")
    effect: Literal["allow", "deny"] = Field("allow", description="Result when the policy matches.")
    conditions: list[PolicyCondition] = Field(default_factory=list, description="All must hold for a match.")


class SecurityPolicy(KindModel):
    kind = "security.policy"

    policy: PolicyRule = Field(description="The rule.")
    groups: list[str] = Field(default_factory=list, description="Named groups this policy belongs to.")


class ExprRule(ConfigModel):
    actions: str | list[str] = Field(description="Actions matched: '*', exact names, or a trailing 'prefix*'.")
    resources: str | list[str] = Field(description="Resources matched: '*', exact ids, or a trailing 'prefix*'.")
    effect: Literal["allow", "deny"] = Field("allow", description="Result when the policy matches.")
    expression: str = Field(description="expr-lang boolean over actor, action, resource and meta; must be true to match.")

    @field_validator("expression")
    @classmethod
    def _parses(cls, source: str) -> str:
        from wippy.exprlang import ExprSyntaxError, compile_cached
        try:
            compile_cached(source)
        except ExprSyntaxError as e:
            raise ValueError(f"expression does not parse: {e}") from None
        return source


class SecurityPolicyExpr(KindModel):
    kind = "security.policy.expr"

    policy: ExprRule = Field(description="The rule.")
    groups: list[str] = Field(default_factory=list, description="Named groups this policy belongs to.")


class TokenStore(KindModel):
    kind = "security.token_store"

    store: EntryRef = Field(description="The store.* entry that keeps the tokens (only their hashes are its keys).")
    token_length: int = Field(32, ge=16, le=256, description="Random bytes in a token.")
    default_expiration: Duration = Field("24h", validate_default=True, description="Lifetime of a token created without one.")
    token_key: str = Field("", description="HMAC-SHA256 key signing tokens (use ${env:NAME}); a forged token is refused unread.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.store, entry_ns)}
