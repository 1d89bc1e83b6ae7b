"""Registry primitives: versioned entries that no handler acts on."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.types import EntryRef
from wippy.registry.entry import resolve_ref


class RegistryEntry(KindModel):
    """Free-form application data: any shape is accepted and kept as written."""

    kind = "registry.entry"
    model_config = ConfigDict(extra="allow")

    @classmethod
    def from_data(cls, data: Any) -> KindModel:
        return cls.model_validate(data) if isinstance(data, dict) else cls()


class NsDefinition(KindModel):
    """Module metadata; open-ended, so unknown fields are kept."""

    kind = "ns.definition"
    model_config = ConfigDict(extra="allow")

    module: str | None = Field(None, description="Module name (org/module).")
    readme: str | None = Field(None, description="Module documentation.")


class RequirementTarget(ConfigModel):
    entry: EntryRef = Field(description="Entry that receives the value.")
    path: str = Field(description="Field path in that entry; a trailing '+=' appends to a list.")


class NsRequirement(KindModel):
    kind = "ns.requirement"

    targets: list[RequirementTarget] = Field(default_factory=list, description="Where the provided value is injected.")
    default: Any = Field(None, description="Value used when the requirement is not provided.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(t.entry, entry_ns) for t in self.targets}


class DependencyParameter(ConfigModel):
    name: str = Field(description="Requirement name in the dependency.")
    value: Any = Field(None, description="Value provided for it.")


class NsDependency(KindModel):
    kind = "ns.dependency"

    component: str = Field(description="Module this namespace depends on (org/module).")
    version: str = Field("*", description="Semver range of acceptable versions.")
    parameters: list[DependencyParameter] = Field(default_factory=list, description="Values for the module's requirements.")
