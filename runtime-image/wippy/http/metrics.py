"""HTTP figures for Prometheus: requests by service, method, route and status, and latency.

They live in prometheus-client's default registry, which the runtime's metrics endpoint serves.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

REQUESTS = Counter("wippy_http_requests_total", "HTTP requests served",
                   ["service", "method", "route", "status"])
LATENCY = Histogram("wippy_http_request_duration_seconds", "HTTP request latency",
                    ["service", "method", "route"])


def observe(service: str, method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(service, method, route, str(status)).inc()
    LATENCY.labels(service, method, route).observe(seconds)
