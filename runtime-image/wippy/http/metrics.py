"""HTTP figures for Prometheus: requests by service, method, route and status, and latency.

Every request is counted (http/server.py), in the registry the runtime's /metrics serves.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

from ..metrics import REGISTRY

REQUESTS = Counter("wippy_http_requests_total", "HTTP requests served",
                   ["service", "method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram("wippy_http_request_duration_seconds", "HTTP request latency",
                    ["service", "method", "route"], registry=REGISTRY)


def observe(service: str, method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(service, method, route, str(status)).inc()
    LATENCY.labels(service, method, route).observe(seconds)
