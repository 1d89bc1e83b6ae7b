"""Kubernetes label selectors (metav1.LabelSelector): the model a WippyApp's `spec.selector` is
validated with, its string form (what `?labelSelector=` and `wippy run --selector` take), and
whether a label set matches it. The semantics are the API server's: every requirement must hold,
`NotIn` and `DoesNotExist` hold for an absent label, and an empty selector matches everything.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# what the API server accepts as a label key (optional DNS-subdomain prefix, then a name) and value;
# anything else could not be written as a selector string
LabelKey = Annotated[str, StringConstraints(
    max_length=317,
    pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
LabelValue = Annotated[str, StringConstraints(
    max_length=63, pattern=r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")]


class LabelSelectorRequirement(BaseModel):
    """One requirement on a label."""

    model_config = ConfigDict(extra="forbid")
    key: LabelKey = Field(description="The label key the requirement applies to.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In: the label is one of values; NotIn: the label is absent or none of values; "
                    "Exists: the label is present; DoesNotExist: the label is absent.")
    values: list[LabelValue] = Field(default_factory=list,
                                     description="Non-empty for In and NotIn, empty for Exists and DoesNotExist.")

    @model_validator(mode="after")
    def _values_fit_operator(self) -> LabelSelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"values must be given for operator {self.operator}")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"values must be empty for operator {self.operator}")
        return self

    def matches(self, labels: dict[str, str]) -> bool:
        if self.operator == "In":
            return labels.get(self.key) in self.values
        if self.operator == "NotIn":
            return self.key not in labels or labels[self.key] not in self.values
        return (self.key in labels) == (self.operator == "Exists")

    def __str__(self) -> str:
        if self.operator == "Exists":
            return self.key
        if self.operator == "DoesNotExist":
            return f"!{self.key}"
        word = "in" if self.operator == "In" else "notin"
        return f"{self.key} {word} ({','.join(sorted(set(self.values)))})"


class LabelSelector(BaseModel):
    """A label query over the entries of the app's namespace; every requirement must hold, and an
    empty selector selects every entry."""

    model_config = ConfigDict(extra="forbid")
    matchLabels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, description="Labels an entry must have with exactly these values.")
    matchExpressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, description="Requirements on an entry's labels.")

    def matches(self, labels: dict[str, str] | None) -> bool:
        labels = labels or {}
        return all(labels.get(k) == v for k, v in self.matchLabels.items()) and \
            all(r.matches(labels) for r in self.matchExpressions)

    def __str__(self) -> str:
        """The string form, e.g. `tier=web,track in (a,b),!legacy`."""
        return ",".join([f"{k}={v}" for k, v in sorted(self.matchLabels.items())]
                        + [str(r) for r in self.matchExpressions])
