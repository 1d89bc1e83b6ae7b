"""Router middleware that needs the runtime: token_auth, endpoint_firewall, resource_firewall, sendfile.

token_auth (pre-match) turns a token from the request into the actor and scope the handler runs
under (it never blocks: a request without a valid token keeps the service's identity, if any);
the firewalls (post-match) answer 401 without an actor and 403 when the scope does not allow the
action on the endpoint (its func) or on a fixed resource; sendfile serves the file a handler names
in `X-Sendfile` from an fs entry, with ranges.
"""
from __future__ import annotations

import mimetypes
from typing import Any

from aiohttp import web

from ..engine.errors import WippyError


def _opt(o: dict[str, Any], key: str, default: Any = None) -> Any:
    return o.get(key, default)


class TokenAuth:
    def __init__(self, o: dict[str, Any], runtime):
        self.runtime = runtime
        self.store = _opt(o, "token_auth.store")
        if not self.store:
            raise ValueError("token_auth needs token_auth.store (a security.token_store entry id)")
        self.header = _opt(o, "token_auth.header.name", "Authorization")
        self.prefix = _opt(o, "token_auth.header.prefix", "Bearer ")
        self.query = _opt(o, "token_auth.query.param", "x-auth-token")
        self.cookie = _opt(o, "token_auth.cookie.name", "x-auth-token")

    def _token(self, ex) -> str | None:
        req = ex.request
        value = req.headers.get(self.header)
        if value:
            return value[len(self.prefix):].strip() if self.prefix and value.startswith(self.prefix) else value.strip()
        value = req.query.get(self.query) if self.query else None
        if value:
            return value
        return req.cookies.get(self.cookie) if self.cookie else None

    async def before(self, ex):
        token = self._token(ex)
        if not token:
            return None
        from ..security.tokens import token_store
        try:
            record = await token_store(self.runtime.node, self.store).validate(token)
        except WippyError:
            return None     # an invalid token authenticates no one; the firewalls decide
        ex.actor, ex.scope = record["actor"], list(record["scope"])
        return None


class _Firewall:
    def __init__(self, runtime, action: str):
        self.runtime = runtime
        self.action = action

    def _check(self, ex, resource: str):
        if ex.actor is None:
            return web.json_response({"error": "unauthorized"}, status=401)
        from ..security.policy import allowed
        from ..security.store import PolicyStore
        policies = PolicyStore(self.runtime.registry).resolve(ex.scope or [])
        if not allowed(ex.actor, policies, self.action, resource, {"method": ex.request.method,
                                                                   "path": ex.request.path}):
            return web.json_response({"error": "forbidden"}, status=403)
        return None


class EndpointFirewall(_Firewall):
    def __init__(self, o: dict[str, Any], runtime):
        super().__init__(runtime, _opt(o, "endpoint_firewall.action", "access"))

    def before(self, ex):
        return self._check(ex, ex.endpoint.func if ex.endpoint is not None else ex.request.path)


class ResourceFirewall(_Firewall):
    def __init__(self, o: dict[str, Any], runtime):
        super().__init__(runtime, _opt(o, "resource_firewall.action", "access"))
        self.target = _opt(o, "resource_firewall.target")
        if not self.target:
            raise ValueError("resource_firewall needs resource_firewall.target (a resource id)")

    def before(self, ex):
        return self._check(ex, self.target)


class Sendfile:
    """A handler answers with `X-Sendfile: <path>` (and optionally `X-File-Name`): the file comes
    from the fs entry `sendfile.fs`, confined to it, with range requests."""

    def __init__(self, o: dict[str, Any], runtime):
        self.runtime = runtime
        self.fs = _opt(o, "sendfile.fs")
        if not self.fs:
            raise ValueError("sendfile needs sendfile.fs (an fs.directory or fs.embed entry id)")

    def respond(self, ex, resp: web.StreamResponse) -> web.StreamResponse:
        rel = resp.headers.get("X-Sendfile")
        if not rel:
            return resp
        from ..data import Resources
        try:
            path = Resources.of(self.runtime.node).fs(self.fs).path(rel)
        except WippyError as e:
            status = 403 if e.kind == "PermissionDenied" else 404
            return web.json_response({"error": e.message}, status=status)
        if not path.is_file():
            return web.json_response({"error": f"{rel}: not found"}, status=404)
        out = web.FileResponse(path, headers={k: v for k, v in resp.headers.items()
                                              if k not in ("X-Sendfile", "X-File-Name", "Content-Length",
                                                           "Content-Type")})
        name = resp.headers.get("X-File-Name")
        if name:
            out.headers["Content-Disposition"] = f'attachment; filename="{name.replace(chr(34), "")}"'
        out.content_type = mimetypes.guess_type(name or path.name)[0] or "application/octet-stream"
        return out


class Otel:
    """Documented as a no-op unless OpenTelemetry is enabled; this runtime has no OTel exporter."""

    def __init__(self, o: dict[str, Any], runtime):
        pass


KINDS = {"token_auth": TokenAuth, "endpoint_firewall": EndpointFirewall, "resource_firewall": ResourceFirewall,
         "sendfile": Sendfile, "otel": Otel}
