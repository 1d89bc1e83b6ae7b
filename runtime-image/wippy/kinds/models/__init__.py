"""Pydantic models of each kind's data; one file per family of kinds.

A new kind is a model in its own file plus one line in ``catalog.MODELS``.
"""

from wippy.kinds.models.base import ConfigModel, KindModel
from wippy.kinds.models.catalog import MODELS, EntryInvalid, entry_references, validate_entry
from wippy.kinds.models.lifecycle import Lifecycle, RestartPolicy, Security
from wippy.kinds.models.lua import FunctionLua, LibraryLua, Pool, ProcessLua
from wippy.kinds.models.primitives import NsDefinition, NsDependency, NsRequirement, RegistryEntry
from wippy.kinds.models.process import HostOptions, ProcessHost, ProcessService, SandboxLimits
from wippy.kinds.models.terminal import TerminalHost
from wippy.kinds.models.types import Duration, EntryRef, ModuleName, Size

__all__ = [
    "MODELS", "ConfigModel", "Duration", "EntryInvalid", "EntryRef", "FunctionLua", "HostOptions",
    "KindModel", "LibraryLua", "Lifecycle", "ModuleName", "NsDefinition", "NsDependency",
    "NsRequirement", "Pool", "ProcessHost", "ProcessLua", "ProcessService", "RegistryEntry",
    "RestartPolicy", "SandboxLimits", "Security", "Size", "TerminalHost", "entry_references", "validate_entry",
]
