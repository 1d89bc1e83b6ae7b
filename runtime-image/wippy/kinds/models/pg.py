"""pg.scope: a namespace of process groups (cluster/pg.py, the `pg` module)."""

from __future__ import annotations

from pydantic import ConfigDict, Field, model_validator

from wippy.kinds.models.base import KindModel, cel, duration
from wippy.kinds.models.lifecycle import Lifecycle
from wippy.kinds.models.types import Duration

# Tuning of the original's Go transport (per-node circuit breakers, retried broadcasts, an action
# queue): here members are reached over the mesh's ordered connections, so these have nothing to
# tune. Their documented defaults are accepted; any other value is refused rather than ignored.
_TRANSPORT_DEFAULTS = {
    "protocol_timeout": 5.0, "broadcast_timeout": 5.0, "circuit_breaker_failures": 3,
    "circuit_breaker_reset_time": 10.0, "max_retries": 3, "retry_base_delay": 0.1, "retry_max_delay": 1.0,
    "action_queue_size": 256, "action_queue_max_size": 1024, "monitor_buffer": 64,
}
_WHY = ("members are reached over the cluster mesh's ordered connections, which have no circuit breakers, "
        "retries or action queue to tune")


def _default_only(name: str, default: float) -> tuple[str, str]:
    """CEL: the field is absent or has its default (a duration compared in milliseconds: "5000ms" is "5s")."""
    if isinstance(default, int):
        check = f"self.{name} == {default}"
    else:
        valid, value = duration(name)
        check = f"!{valid} || {value} == {round(default * 1000)}"
    return f"!has(self.{name}) || {check}", f"{name}: only the default ({default:g}) is accepted: {_WHY}"


class PgScope(KindModel):
    kind = "pg.scope"
    model_config = ConfigDict(json_schema_extra=cel(*(_default_only(n, d) for n, d in _TRANSPORT_DEFAULTS.items())))

    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="Accepted for compatibility: a scope is "
                                 "ready as soon as its entry is (pg.open).")
    anti_entropy_interval: Duration = Field("30s", validate_default=True, description="How often this node pushes "
                                            "its members to one peer, repairing what a peer missed (0 disables).")
    max_groups: int = Field(0, ge=0, description="Most distinct groups (0 = unlimited); a join over it fails.")
    max_members_per_group: int = Field(0, ge=0, description="Most members of one group, counting multi-joins "
                                       "(0 = unlimited); a join over it fails.")
    protocol_timeout: Duration = Field("5s", validate_default=True, description="Only the default (see below).")
    broadcast_timeout: Duration = Field("5s", validate_default=True, description="Only the default.")
    circuit_breaker_failures: int = Field(3, description="Only the default.")
    circuit_breaker_reset_time: Duration = Field("10s", validate_default=True, description="Only the default.")
    max_retries: int = Field(3, description="Only the default.")
    retry_base_delay: Duration = Field("100ms", validate_default=True, description="Only the default.")
    retry_max_delay: Duration = Field("1s", validate_default=True, description="Only the default.")
    action_queue_size: int = Field(256, description="Only the default.")
    action_queue_max_size: int = Field(1024, description="Only the default.")
    monitor_buffer: int = Field(64, description="Only the default: a subscription's events wait in the "
                                "process's mailbox in order, none is dropped.")

    @model_validator(mode="after")
    def _transport_defaults_only(self) -> PgScope:
        for name, default in _TRANSPORT_DEFAULTS.items():
            value = getattr(self, name)
            if abs(float(value) - default) > 1e-9:
                raise ValueError(f"{name}: only the default ({default:g}) is accepted: {_WHY}")
        return self
