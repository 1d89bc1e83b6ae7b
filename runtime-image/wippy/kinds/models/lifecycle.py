"""The ``lifecycle`` block shared by every supervised kind (reference §3.1)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class RestartPolicy(ConfigModel):
    initial_delay: Duration = Field("1s", validate_default=True, description="Delay before the first restart.")
    max_delay: Duration = Field("90s", validate_default=True, description="Upper bound for the restart delay.")
    backoff_factor: float = Field(2.0, ge=1.0, description="Multiplier applied to the delay after each failure.")
    jitter: float = Field(0.1, ge=0.0, le=1.0, description="Random spread of each delay, as a fraction (0.1 = +/-10%).")
    max_attempts: int = Field(0, ge=0, description="Restarts before giving up; 0 retries forever.")


class SecurityActor(ConfigModel):
    id: str = Field(description="Actor id the service runs as.")
    meta: dict[str, Any] = Field(default_factory=dict, description="Actor metadata visible to policies.")


class Security(ConfigModel):
    actor: SecurityActor | None = Field(None, description="Identity the service runs under.")
    policies: list[EntryRef] = Field(default_factory=list, description="security.policy entries granted to the service.")
    groups: list[str] = Field(default_factory=list, description="Policy groups granted to the service.")


class Lifecycle(ConfigModel):
    auto_start: bool = Field(False, description="Start when the entry appears (and at boot).")
    requires: list[EntryRef] = Field(
        default_factory=list, description="Services that must be running before this one starts."
    )
    depends_on: list[EntryRef] = Field(
        default_factory=list, description="Legacy name for 'requires'; both lists are merged."
    )
    start_timeout: Duration = Field("10s", validate_default=True, description="Longest a start may take; a timeout is a retryable failure.")
    stop_timeout: Duration = Field("10s", validate_default=True, description="Graceful stop budget.")
    stable_threshold: Duration = Field(
        "5s", validate_default=True, description="Run time after which the restart counter resets."
    )
    restart: RestartPolicy = Field(default_factory=RestartPolicy, description="Restart backoff after failures.")
    security: Security | None = Field(None, description="Identity and grants the service runs with.")

    @model_validator(mode="after")
    def _merge_depends_on(self) -> Lifecycle:
        merged = list(dict.fromkeys([*self.requires, *self.depends_on]))
        self.requires = merged
        self.depends_on = []
        return self

    def references(self, entry_ns: str) -> set[str]:
        refs = {resolve_ref(r, entry_ns) for r in self.requires}
        if self.security is not None:
            refs |= {resolve_ref(p, entry_ns) for p in self.security.policies}
        return refs

    def _refuse(self, names: tuple[str, ...], why: str) -> None:
        for name in names:
            if name in self.model_fields_set:
                raise ValueError(f"lifecycle.{name} {why}")


def _absent(why: dict[str, str]) -> dict:
    """CEL rules refusing the lifecycle fields a kind has no use for, with the model's messages."""
    return cel(*((f"!has(self.{name})", f"lifecycle.{name} {text}") for name, text in why.items()))


_NO_STABLE = ("has no meaning for an http.service: a bound listener does not fail, only a start (bind) does, "
              "and lifecycle.restart retries that")
_HOST_FAILS = "has no meaning for a host: a host does not fail, its processes do (process.service restarts them)"
_HOST_STOP = ("is not supported on a host: a removed host ends its processes at once (a process.service's "
              "stop_timeout gives its process time to stop)")
_HOST_AS = ("is not supported on a host: a process runs as whoever spawned it (process.service lifecycle.security "
            "gives a service an identity)")
_RESOURCE = ("is for supervised services (process.service, ...): a resource entry is not restarted; it reopens on "
             "its next use")


class HttpServiceLifecycle(Lifecycle):
    """``lifecycle`` of an http.service. Without ``auto_start: true`` (the docs' default is false) it
    stays unbound until a service that requires it starts. A bind that fails when the supervisor
    starts it is retried per ``restart``."""
    model_config = ConfigDict(json_schema_extra=_absent({"stable_threshold": _NO_STABLE}))

    @model_validator(mode="after")
    def _no_stable_threshold(self) -> HttpServiceLifecycle:
        self._refuse(("stable_threshold",), _NO_STABLE)
        return self


class ConsumerLifecycle(Lifecycle):
    """``lifecycle`` of a queue.consumer: without ``auto_start: true`` it consumes once a service
    that requires it starts; a consumer whose driver fails (cannot receive) restarts per
    ``restart``; ``stop_timeout`` is how long messages in hand may finish when it stops."""


class HostLifecycle(Lifecycle):
    """``lifecycle`` of a process.host or terminal.host. Without ``auto_start: true`` the host stays
    closed (spawning on it fails) until a service that runs on it or requires it starts, or a
    command is run on it."""
    model_config = ConfigDict(json_schema_extra=_absent({
        "restart": _HOST_FAILS, "stable_threshold": _HOST_FAILS, "stop_timeout": _HOST_STOP, "security": _HOST_AS}))

    @model_validator(mode="after")
    def _no_service_fields(self) -> HostLifecycle:
        self._refuse(("restart", "stable_threshold"), _HOST_FAILS)
        self._refuse(("stop_timeout",), _HOST_STOP)
        self._refuse(("security",), _HOST_AS)
        return self


class ResourceLifecycle(Lifecycle):
    """``lifecycle`` of a resource entry (database, store, queue, env storage, Temporal client): it is
    built when applied and used by whoever asks for it, not run and restarted like a service.

    ``auto_start`` opens it at once (a connection, a file) within ``start_timeout``, and a resource
    that cannot open refuses its entry (``startup: optional``: only logged; it opens on first use);
    without it, it opens on first use. ``requires`` orders it after those entries. ``stop_timeout``
    is how long work in flight on a replaced or removed resource may take before it is closed.
    """

    model_config = ConfigDict(json_schema_extra=_absent(dict.fromkeys(("restart", "stable_threshold", "security"),
                                                                       _RESOURCE)))
    startup: Literal["required", "optional"] = Field(
        "required", description="'optional': an auto_start that cannot open is only logged; it opens on first use."
    )

    @model_validator(mode="after")
    def _no_service_fields(self) -> ResourceLifecycle:
        for name in ("restart", "stable_threshold", "security"):
            if name in self.model_fields_set:
                raise ValueError(f"lifecycle.{name} {_RESOURCE}")
        return self


class ResourceModel(KindModel):
    """A kind whose entries are resources, with their ``lifecycle``."""

    lifecycle: ResourceLifecycle = Field(default_factory=ResourceLifecycle,
                                         description="When it opens, what it waits for, how long it may take.")

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)
