"""The base of every kind model: strict fields and a way to name dependencies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


def cel(*rules: tuple[str, str]) -> dict:
    """Cross-field rules that the API server checks too: CEL (`x-kubernetes-validations` in the
    generated CRDs), each (rule, message) saying what the model's own validator says, so that
    `kubectl apply` refuses a wrong object with that message. `self` is the model's object."""
    return {"x-kubernetes-validations": [{"rule": rule, "message": message} for rule, message in rules]}


# Go's time.ParseDuration syntax, which CEL's duration() parses (the API server runs cel-go)
# (kept short: the API server's estimate of a rule's cost grows with the length of its regexps)
_GO_DURATION = "^[-+]?(0|(([0-9]+[.]?[0-9]*|[.][0-9]+)([nu\u00b5\u03bcm]?s|m|h))+)$"


def duration(field: str) -> tuple[str, str]:
    """CEL for a Duration field (a number of seconds or a Go duration string): a guard that its
    value is one (an invalid one is for the model's own check to name: CEL's duration() would
    fail the request with an evaluation error instead) and the value in whole milliseconds
    (an int: converting it to a string first would cost the rule its budget)."""
    f = f"self.{field}"
    return (f"(type({f}) == int || {f}.matches('{_GO_DURATION}'))",
            f"(type({f}) == int ? {f} * 1000 : duration({f}).getMilliseconds())")


def given(field: str) -> str:
    """CEL: the field is there and not empty."""
    return f"(has(self.{field}) && self.{field} != '')"


class ConfigModel(BaseModel):
    """Strict: a misspelled field is an error naming the field, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class KindModel(ConfigModel):
    """The decoded ``data`` of one kind of entry.

    Subclasses set ``kind`` and describe every field with ``Field(description=...)``;
    the Kubernetes CRDs are generated from these models.
    """

    kind: ClassVar[str]
    # Dotted paths in ``meta`` whose values are entry references (e.g. "router" for
    # http.endpoint); they order changes just like references in data.
    meta_references: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_data(cls, data: Any) -> KindModel:
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ValueError(f"data must be a mapping of fields, got {type(data).__name__}")
        return cls.model_validate(data)

    def references(self, entry_ns: str) -> set[str]:
        """Full ids of the entries this one depends on (bare names resolved in ``entry_ns``)."""
        return set()
