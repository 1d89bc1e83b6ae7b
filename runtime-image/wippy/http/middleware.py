"""Router middleware: cors, ratelimit, compress, real_ip, metrics (and, in security_middleware,
token_auth, endpoint_firewall, resource_firewall, sendfile, otel; in relay, websocket_relay, sse_relay).

A middleware may define any of these hooks:
- before(ex) -> Response | None (or a coroutine of it): runs before the handler; a response short-circuits it.
- respond(ex, resp) -> Response (or a coroutine of it): may replace the handler's response (sendfile,
  the relays, which serve a long-lived connection and return it as the exchange's stream).
- prepare(ex, resp): runs just before response headers go out (buffered or streamed).
- done(ex, status): runs when the response is complete.
Options come from the router's `options` as dotted keys ('cors.allow.origins') or nested maps.
"""
from __future__ import annotations

import ipaddress
import time
from typing import Any, Callable

from aiohttp import web

from ..durations import parse_duration
from .relay import KINDS as RELAY_KINDS
from .security_middleware import KINDS as SECURITY_KINDS


def flatten(options: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in (options or {}).items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def _list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return [str(x).strip() for x in v]
    return [s.strip() for s in str(v).split(",") if s.strip()]


def client_ip(addr: str) -> str:
    """'1.2.3.4:5' -> '1.2.3.4', '[::1]:5' -> '::1'; a bare address is returned as is."""
    if addr.startswith("["):
        return addr[1:].partition("]")[0]
    return addr.partition(":")[0] if addr.count(":") == 1 else addr


def _opt(options: dict[str, Any], name: str, key: str, default: Any = None) -> Any:
    return options.get(f"{name}.{key}", default)


class Cors:
    def __init__(self, o: dict[str, Any]):
        self.origins = _list(_opt(o, "cors", "allow.origins", "*"))
        self.methods = ", ".join(_list(_opt(o, "cors", "allow.methods", "GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS")))
        self.headers = ", ".join(_list(_opt(o, "cors", "allow.headers", "Content-Type,Authorization")))
        self.expose = ", ".join(_list(_opt(o, "cors", "expose.headers")))
        self.credentials = bool(_opt(o, "cors", "allow.credentials", False))
        self.max_age = str(int(_opt(o, "cors", "max_age", 86400)))

    def _origin(self, ex) -> str | None:
        origin = ex.request.headers.get("Origin")
        if origin is None:
            return None
        if "*" in self.origins:
            return origin if self.credentials else "*"
        return origin if origin in self.origins else None

    def before(self, ex):
        req = ex.request
        if req.method != "OPTIONS" or "Access-Control-Request-Method" not in req.headers:
            return None
        origin = self._origin(ex)
        resp = web.Response(status=204)
        if origin is not None:
            resp.headers.update({"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": self.methods,
                                 "Access-Control-Allow-Headers": self.headers, "Access-Control-Max-Age": self.max_age,
                                 "Vary": "Origin"})
            if self.credentials:
                resp.headers["Access-Control-Allow-Credentials"] = "true"
        return resp

    def prepare(self, ex, resp):
        origin = self._origin(ex)
        if origin is None:
            return
        resp.headers["Access-Control-Allow-Origin"] = origin
        resp.headers.add("Vary", "Origin")
        if self.credentials:
            resp.headers["Access-Control-Allow-Credentials"] = "true"
        if self.expose:
            resp.headers["Access-Control-Expose-Headers"] = self.expose


class RateLimit:
    """A token bucket per client address: `requests` per `window`, bursts up to `burst`."""

    def __init__(self, o: dict[str, Any]):
        self.rate = float(_opt(o, "ratelimit", "requests", 100)) / parse_duration(_opt(o, "ratelimit", "window", "1s"))
        self.burst = float(_opt(o, "ratelimit", "burst", _opt(o, "ratelimit", "requests", 100)))
        self.buckets: dict[str, tuple[float, float]] = {}

    def before(self, ex):
        key = client_ip(ex.remote_addr)
        now = time.monotonic()
        tokens, at = self.buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1:
            self.buckets[key] = (tokens, now)
            retry = max(1, int((1 - tokens) / self.rate + 0.999))
            return web.json_response({"error": "rate limit exceeded"}, status=429, headers={"Retry-After": str(retry)})
        self.buckets[key] = (tokens - 1, now)
        if len(self.buckets) > 100_000:   # forget the oldest clients rather than grow without bound
            for k in list(self.buckets)[:50_000]:
                del self.buckets[k]
        return None


class Compress:
    def __init__(self, o: dict[str, Any]):
        self.min_size = int(_opt(o, "compress", "min_size", 1024))

    def prepare(self, ex, resp):
        if "gzip" not in ex.request.headers.get("Accept-Encoding", "") or "Content-Encoding" in resp.headers:
            return
        body = getattr(resp, "body", None)
        if isinstance(resp, web.Response) and (body is None or len(body) < self.min_size):
            return
        resp.enable_compression(web.ContentCoding.gzip)


class RealIp:
    """Take the client address from X-Forwarded-For / X-Real-IP when the peer is a trusted proxy."""

    def __init__(self, o: dict[str, Any]):
        self.trusted = [ipaddress.ip_network(n, strict=False) for n in _list(_opt(o, "real_ip", "trusted_proxies"))]

    def _trusted(self, addr: str) -> bool:
        if not self.trusted:
            return True
        try:
            ip = ipaddress.ip_address(client_ip(addr))
        except ValueError:
            return False
        return any(ip in n for n in self.trusted)

    def before(self, ex):
        h = ex.request.headers
        forwarded = h.get("X-Forwarded-For")
        real = forwarded.split(",")[0].strip() if forwarded else h.get("X-Real-IP", "").strip()
        if real and self._trusted(ex.remote_addr):
            ex.remote_addr = real
        return None


class Metrics:
    """Accepted for routers that name it: the server counts every request (http/metrics.py)."""

    def __init__(self, o: dict[str, Any]):
        pass


KINDS: dict[str, Callable[..., Any]] = {"cors": Cors, "ratelimit": RateLimit, "compress": Compress, "real_ip": RealIp, "metrics": Metrics}
KINDS.update(SECURITY_KINDS)
KINDS.update(RELAY_KINDS)
WITH_RUNTIME = {**SECURITY_KINDS, **RELAY_KINDS}   # built with the runtime as well


def build(names: list[str], options: dict[str, Any], runtime=None) -> tuple:
    """Instances for a router; the middleware of security_middleware also get the runtime."""
    flat = flatten(options)
    return tuple(KINDS[name](flat, runtime) if name in WITH_RUNTIME else KINDS[name](flat) for name in names)
