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
