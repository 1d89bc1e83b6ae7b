"""security.policy: a declarative rule granting or denying actions on resources."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from wippy.kinds.models.base import ConfigModel, KindModel


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
