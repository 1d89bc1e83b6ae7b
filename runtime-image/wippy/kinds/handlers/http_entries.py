"""http.service, http.router, http.endpoint, http.static.

A service binds its listener while the change is applied, so an address already in use
rejects the entry (and a rejected changeset closes it again through the inverse op).
Routers, endpoints and static mounts are swapped into their service's route table in place,
with no listener restart; a route that cannot be served rejects its entry.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...http.manager import HttpManager
from ...http.routing import RouteError
from ...registry import Op, Rejected

if TYPE_CHECKING:
    from ...runtime import Runtime


class HttpHandler:
    def __init__(self, runtime: "Runtime"):
        self.http = HttpManager.of(runtime)

    async def apply(self, op: Op) -> None:
        try:
            if op.entry.kind == "http.service":
                await self.http.apply_service(op)
            else:
                self.http.apply_route(op)
        except OSError as e:
            raise Rejected(f"http.service {op.entry.id}: {e.strerror or e}") from None
        except RouteError as e:
            raise Rejected(str(e)) from None
