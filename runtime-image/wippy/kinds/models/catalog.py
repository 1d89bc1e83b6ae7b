"""Which model decodes which kind, and the two questions the registry asks of an entry:
is it valid, and what does it reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ValidationError

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.lua import FunctionLua, LibraryLua, ModuleLua, ProcessLua
from wippy.kinds.models.primitives import NsDefinition, NsDependency, NsRequirement, RegistryEntry
from wippy.kinds.models.process import ProcessHost, ProcessService
from wippy.kinds.models.pg import PgScope
from wippy.kinds.models.terminal import TerminalHost
from wippy.testing.builtin import BUILTIN_PREFIX
from wippy.kinds.models import http as _http
from wippy.kinds.models import sql as _sql
from wippy.kinds.models import store as _store
from wippy.kinds.models import queue as _queue
from wippy.kinds.models import env as _env
from wippy.kinds.models import fs as _fs
from wippy.kinds.models import templates as _templates
from wippy.kinds.models import exec as _exec
from wippy.kinds.models import contract as _contract
from wippy.kinds.models.temporal import TemporalClient, TemporalWorker, WorkflowLua
from wippy.kinds.models.security import SecurityPolicy, SecurityPolicyExpr, TokenStore
from wippy.registry.entry import Entry, InvalidEntryId, resolve_ref
from wippy.registry.errors import format_validation_errors

MODELS: dict[str, type[KindModel]] = {
    model.kind: model
    for model in (
        FunctionLua,
        ProcessLua,
        LibraryLua,
        ModuleLua,
        ProcessHost,
        ProcessService,
        PgScope,
        TerminalHost,
        TemporalClient, TemporalWorker, WorkflowLua,
        RegistryEntry,
        NsDefinition,
        NsRequirement,
        NsDependency,
        _http.HttpService, _http.HttpRouter, _http.HttpEndpoint, _http.HttpStatic,
        _sql.SqliteDatabase, _sql.PostgresDatabase, _sql.MysqlDatabase,
        _store.MemoryStore, _store.SqlStore, _store.RedisStore,
        _queue.MemoryDriver, _queue.RedisDriver, _queue.AmqpDriver, _queue.Queue, _queue.Consumer,
        _env.MemoryStorage, _env.OsStorage, _env.FileStorage, _env.StaticStorage, _env.RouterStorage, _env.Variable,
        _fs.Directory, _fs.Embedded,
        _templates.TemplateSet, _templates.TemplateJet,
        _exec.ExecNative,
        _contract.ContractDefinition, _contract.ContractBinding,
        SecurityPolicy, SecurityPolicyExpr, TokenStore,
    )
}


class EntryInvalid(ValueError):
    """An entry whose data does not fit its kind.

    ``str()`` is the full line for the user (``file:line: entry id (kind): problems``);
    ``reason`` is the part after the entry, which the registry prefixes itself.
    """

    def __init__(self, entry: Entry, problems: list[str], *, known_kind: bool = True):
        self.entry_id = entry.id
        self.kind = entry.kind
        self.source = entry.source
        self.problems = problems
        detail = "; ".join(problems)
        self.reason = f"invalid {entry.kind}: {detail}" if known_kind else detail
        where = f"{entry.source}: " if entry.source else ""
        super().__init__(f"{where}entry {entry.id} ({entry.kind}): {detail}")


# Wippy's *.lua.bc kinds hold gopher-lua bytecode, which PUC Lua 5.4 (lupa) cannot load.
BYTECODE_REFUSAL = ("precompiled Lua bytecode ({kind}) is not supported: this runtime runs Lua 5.4 through "
                    "lupa, which cannot load Wippy's gopher-lua bytecode; use {source_kind} with the Lua source")


def validate_entry(entry: Entry) -> KindModel:
    model = MODELS.get(entry.kind)
    if model is None and entry.kind.endswith(".lua.bc"):
        message = BYTECODE_REFUSAL.format(kind=entry.kind, source_kind=entry.kind[:-3])
        raise EntryInvalid(entry, [message], known_kind=False)
    if model is None:
        raise EntryInvalid(entry, [f"unknown kind '{entry.kind}'"], known_kind=False)
    try:
        return model.from_data(entry.data)
    except ValidationError as e:
        raise EntryInvalid(entry, format_validation_errors(e, model)) from None
    except ValueError as e:
        raise EntryInvalid(entry, [str(e)]) from None


M = TypeVar("M", bound=KindModel)


def validate_entry_as(entry: Entry, model_type: type[M]) -> M:
    """validate_entry for a caller that needs one kind: an entry of another kind is invalid here."""
    model = validate_entry(entry)
    if not isinstance(model, model_type):
        raise EntryInvalid(entry, [f"expected kind '{model_type.kind}', got '{entry.kind}'"])
    return model


def entry_references(entry: Entry) -> set[str]:
    """Full ids this entry depends on; empty for unknown kinds or undecodable data."""
    model = MODELS.get(entry.kind)
    if model is None:
        return set()
    try:
        refs = model.from_data(entry.data).references(entry.ns)
    except ValueError:
        refs = set()
    for path in model.meta_references:
        value = _lookup(entry.meta, path)
        if isinstance(value, str) and value:
            try:
                refs.add(resolve_ref(value, entry.ns))
            except InvalidEntryId:
                pass  # not a reference we can follow; the kind's handler reports it
    refs.discard(entry.id)
    # built-in entries (the test library) are served by every runtime, never stored
    return {r for r in refs if not r.startswith(BUILTIN_PREFIX)}


def _lookup(meta: Mapping, path: str) -> Any:
    value: Any = meta
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value
