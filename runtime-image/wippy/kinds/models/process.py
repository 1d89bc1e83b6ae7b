"""Process hosting kinds: process.host and process.service."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel
from wippy.kinds.models.lifecycle import HostLifecycle, Lifecycle
from wippy.kinds.models.types import Duration, EntryRef, Size
from wippy.registry.entry import resolve_ref


class HostOptions(ConfigModel):
    model_config = ConfigDict(json_schema_extra=cel(
        *((f"!has(self.{name})", f"host.{name} is not supported here: a process.host is one Lua state driven by "
           "the event loop, with no worker threads or run queues to size; remove it "
           "(host.max_processes and limits bound a host)") for name in ("workers", "queue_size", "local_queue_size"))))
    workers: int | None = Field(None, ge=1, description="Not supported: a host is one Lua state run by the event loop.")
    queue_size: int | None = Field(None, ge=1, description="Not supported: a host has no run queue to size.")
    local_queue_size: int | None = Field(None, ge=1, description="Not supported: a host has no per-worker queues.")

    @model_validator(mode="after")
    def _no_workers(self) -> HostOptions:
        for name in ("workers", "queue_size", "local_queue_size"):
            if getattr(self, name) is not None:
                raise ValueError(f"host.{name} is not supported here: a process.host is one Lua state driven by "
                                 "the event loop, with no worker threads or run queues to size; remove it "
                                 "(host.max_processes and limits bound a host)")
        return self
    max_processes: int | None = Field(
        None, ge=0, description="Most processes alive on the host at once; a spawn over it fails with LimitExceeded "
        "(unset = 100000, 0 = no cap). Can change live.")


class SandboxLimits(ConfigModel):
    """Every limit can change live; a process over one ends with a LimitExceeded error naming it,
    its entry and the limit, and the rest of the host keeps running."""
    max_instructions: int | None = Field(
        None, ge=0, description="Lua instructions one process may run in one slice, before it must yield "
        "(checked every 10,000; unset or 0 = no limit)."
    )
    slice_timeout: Duration | None = Field(
        None,
        description="CPU time one process may run without yielding before it is ended (unset = 100ms; 0 = no limit, "
        "which also spares tight loops the per-instruction check and turns preemption off). Past 10ms of wall "
        "time (or half the limit of CPU) a process is preempted at its next yield point (every loop iteration, "
        "function call and call into the runtime) and rescheduled behind the others; only code where no yield "
        "is possible (a table.sort comparator, a metamethod called from C) runs into the limit.",
    )
    busy_timeout: Duration | None = Field(
        None,
        description="CPU time one process may run without waiting (for a message, a timer, I/O), across "
        "preemptions, before it is ended (unset = 5s; 0 = no limit): what ends an endless loop.",
    )
    max_memory: Size | None = Field(
        None,
        description="Lua memory of the host, all its processes together, e.g. '64MiB' (unset = 512MiB, 0 = "
        "no limit). The process running when the heap passes it is ended; spawns are refused while over.",
    )
    max_mailbox: int | None = Field(
        None, ge=0, description="Messages waiting in one process's inbox (or one listened topic). A message "
        "to a full mailbox is dropped and process.send returns nil plus a LimitExceeded error; the receiver is "
        "not touched (unset = 100000, 0 = no limit). A full mailbox still takes a message from a sender with no "
        "messages of its own queued past the first 64, up to a tenth over the limit, and past 64 waiting "
        "messages the receiver gets the senders' messages in turn (each sender's in the order sent): one "
        "sender's flood neither shuts out nor delays the others."
    )
    max_timers: int | None = Field(
        None, ge=0, description="Timers, tickers and sleeps alive in one process at once; the process that "
        "sets one more is ended (unset = 1000, 0 = no limit). A process's timers end with it."
    )
    # What one call of a module may do. A conversion runs on the event loop (every host of the
    # node waits for it); a sanitize or a validation in a worker thread, which they hold.
    max_convert_tables: int | None = Field(
        None, ge=0, description="Tables of one Lua value handed to a module that works in Python (expr, "
        "templates, sql, http bodies...); shared subtables count once per reference, as they are copied. "
        "Over it the call fails with 'value too large to convert' (unset = 50000, 0 = no limit)."
    )
    max_convert_values: int | None = Field(
        None, ge=0, description="Items of those tables, all together (unset = 100000, 0 = no limit)."
    )
    max_html_bytes: Size | None = Field(
        None, description="Largest document html sanitizers take, e.g. '8MiB'; a larger one is refused with "
        "INVALID (unset = 8MiB, 0 = no limit). Nesting deeper than 512 elements is always refused: past it the "
        "parser's work grows faster than the document (browsers stop nesting there too)."
    )
    max_schema_steps: int | None = Field(
        None, ge=0, description="Checks one JSON Schema validation (json.validate) may make: anyOf, oneOf and "
        "$ref can make them exponential in the schema's size; past it the validation fails with a schema "
        "error (unset = 500000, 0 = no limit)."
    )


class ProcessHost(KindModel):
    kind = "process.host"

    host: HostOptions = Field(default_factory=HostOptions, description="Scheduler settings.")
    lifecycle: HostLifecycle = Field(default_factory=HostLifecycle, description="When the host opens.")
    limits: SandboxLimits = Field(default_factory=SandboxLimits, description="Sandbox limits for processes on this host.")

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)


class ProcessService(KindModel):
    kind = "process.service"

    process: EntryRef = Field(description="The process.lua entry to run.")
    host: EntryRef = Field(description="The process.host entry to run it on.")
    input: list[Any] = Field(default_factory=list, description="Arguments passed to the process's method.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Start, stop and restart policy.")
    placement: Literal["every", "singleton"] = Field(
        "every", description="Where the service runs when the app has many pods: 'every' pod (as on one node), "
        "or a 'singleton' that runs on exactly one pod of the app at a time (the holder of its Lease) and moves "
        "to another pod when that one goes away. On a single node both run it once.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.process, entry_ns), resolve_ref(self.host, entry_ns)} | self.lifecycle.references(entry_ns)
