"""Contract kinds: contract.definition (a typed interface) and contract.binding (its methods
mapped to function.lua entries)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.types import EntryRef
from wippy.registry.entry import resolve_ref


class Schema(ConfigModel):
    format: str = Field("application/schema+json", description="Schema format.")
    definition: Any = Field(None, description="The schema itself.")


class ContractMethod(ConfigModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Method name (a Lua identifier).")
    description: str = Field("", description="What the method does.")
    input_schemas: list[Schema] = Field(default_factory=list, description="Input schema definitions.")
    output_schemas: list[Schema] = Field(default_factory=list, description="Output schema definitions.")


class ContractDefinition(KindModel):
    kind = "contract.definition"

    methods: list[ContractMethod] = Field(default_factory=list, description="The contract's methods.")


class BoundContract(ConfigModel):
    contract: EntryRef = Field(description="The contract.definition implemented.")
    default: bool = Field(False, description="Used when the contract is opened without a binding id.")
    methods: dict[str, EntryRef] = Field(default_factory=dict, description="Method name -> function.lua entry.")


class ContractBinding(KindModel):
    kind = "contract.binding"

    contracts: list[BoundContract] = Field(min_length=1, description="Contracts this binding implements.")

    def references(self, entry_ns: str) -> set[str]:
        refs = {resolve_ref(c.contract, entry_ns) for c in self.contracts}
        for c in self.contracts:
            refs.update(resolve_ref(f, entry_ns) for f in c.methods.values())
        return refs
