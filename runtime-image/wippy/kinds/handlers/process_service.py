"""process.service: a supervised instance of a process.lua entry."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...registry import Op, resolve_ref
from ...supervisor.supervisor import ServiceSpec

if TYPE_CHECKING:
    from ...runtime import Runtime


def service_spec(runtime: "Runtime", entry) -> ServiceSpec:
    model = runtime.decode(entry)
    ns = entry.ns
    from ...security.store import service_identity   # late: security reads kinds, kinds load handlers
    actor, scope = service_identity(runtime.registry, model.lifecycle.security, ns)
    return ServiceSpec(id=entry.id, process=resolve_ref(model.process, ns), host=resolve_ref(model.host, ns),
                       input=list(model.input), lifecycle=model.lifecycle, actor=actor, scope=scope,
                       placement=model.placement)


class ProcessServiceHandler:
    """Services start, restart and stop once their change is committed (Runtime.after_commit):
    a process must never start on an entry that a rejected changeset would take back."""

    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        if op.action != "delete":
            service_spec(self.runtime, op.entry)


async def apply_committed(runtime: "Runtime", op: Op) -> None:
    sup = runtime.supervisor
    if op.action == "delete":
        await sup.remove(op.entry.id)
    elif op.action == "create":
        sup.add(service_spec(runtime, op.entry))
    else:
        await sup.replace(service_spec(runtime, op.entry))
