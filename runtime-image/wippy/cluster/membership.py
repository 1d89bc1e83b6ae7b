"""Who the app's nodes are: the endpoints of its headless peers Service, as the API server's
EndpointSlices list them (the endpoints controller writes them from the pods: a pod's name and
UID in targetRef, its IP, its readiness, and the mesh port). A list, then a watch from its
resourceVersion; a broken watch lists again."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Callable

from ..kube.api import KubeApi, list_then_watch

log = logging.getLogger("wippy.cluster.membership")

MESH_PORT_NAME = "mesh"
SERVICE_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Member:
    id: str          # the pod's name (a pid's node part)
    uid: str         # the pod's UID
    addr: str        # host:port of its mesh
    ready: bool


def peers_service(app: str) -> str:
    return f"{app}-peers"


def members_of(slices: dict[str, dict]) -> dict[str, Member]:
    out: dict[str, Member] = {}
    for s in slices.values():
        port = next((p.get("port") for p in s.get("ports") or [] if p.get("name") == MESH_PORT_NAME), None)
        if not port:
            continue
        for ep in s.get("endpoints") or []:
            ref = ep.get("targetRef") or {}
            addrs = ep.get("addresses") or []
            if ref.get("kind") != "Pod" or not ref.get("name") or not addrs:
                continue
            cond = ep.get("conditions") or {}
            if cond.get("terminating"):
                continue
            host = addrs[0] if ":" not in addrs[0] else f"[{addrs[0]}]"
            # an unset `ready` means ready (discovery.k8s.io/v1)
            out[ref["name"]] = Member(ref["name"], ref.get("uid", ""), f"{host}:{port}", cond.get("ready") is not False)
    return out


class KubeMembership:
    def __init__(self, api: KubeApi, namespace: str, app: str, on_change: Callable[[dict[str, Member]], None]):
        self.api, self.namespace, self.app = api, namespace, app
        self.on_change = on_change
        self.members: dict[str, Member] = {}
        self.synced = asyncio.Event()
        self._slices: dict[str, dict] = {}
        self._task: asyncio.Task | None = None

    @property
    def path(self) -> str:
        return f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices"

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    def _publish(self) -> None:
        members = members_of(self._slices)
        if members != self.members:
            self.members = members
            self.on_change(members)

    async def _run(self) -> None:
        await list_then_watch(self.api, self.path, f"{SERVICE_LABEL}={peers_service(self.app)}",
                              on_list=self._listed, on_event=self._event, log=log,
                              what=f"membership: EndpointSlices of {peers_service(self.app)}")

    async def _listed(self, slices: list[dict]) -> None:
        self._slices = {s["metadata"]["name"]: s for s in slices}
        self._publish()
        self.synced.set()

    def _event(self, kind: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        if kind == "DELETED":
            self._slices.pop(name, None)
        else:
            self._slices[name] = obj
        self._publish()
