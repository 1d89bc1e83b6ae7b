"""Prometheus metrics: user metrics from the `metrics` module and the runtime's own
figures (processes by host, messages, spawns, restarts, queue depth, function calls
and latency), served in the Prometheus text format.

    from wippy.metrics import serve
    runner = await serve(runtime, "127.0.0.1", 9090)   # GET /metrics, /livez, /readyz
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, CONTENT_TYPE_LATEST
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..engine.errors import WippyError, INVALID

NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

log = logging.getLogger("wippy.metrics")
REGISTRY = CollectorRegistry(auto_describe=False)
BROKER_TIMEOUT = 2.0  # seconds a scrape waits for the queue brokers' figures
_user: dict[str, tuple[str, Any, tuple[str, ...]]] = {}
_lock = threading.Lock()

# function calls entering the runtime from Python (HTTP handlers, queue consumers, CLI)
CALLS = Counter("wippy_function_calls_total", "Function calls by entry and outcome", ["function", "status"],
                registry=REGISTRY)
CALL_SECONDS = Histogram("wippy_function_call_seconds", "Function call latency", ["function"], registry=REGISTRY)


# the pod's feed of entries from Kubernetes (kube/source.py)
SYNCS = Counter("wippy_kube_syncs_total", "Syncs of the app's entries into the registry by result", ["result"],
                registry=REGISTRY)
SYNC_SECONDS = Histogram("wippy_kube_sync_duration_seconds", "Time to apply one sync of the app's entries",
                         registry=REGISTRY)
WATCH_RESTARTS = Counter("wippy_kube_watch_restarts_total",
                         "Watches of the app's entry maps relisted, by reason (error, expired)", ["reason"],
                         registry=REGISTRY)


def observe_call(function_id: str, seconds: float, ok: bool) -> None:
    CALLS.labels(function_id, "ok" if ok else "error").inc()
    CALL_SECONDS.labels(function_id).observe(seconds)


def _metric(kind: str, name: Any, labels: dict | None, buckets=None):
    if not isinstance(name, str) or not NAME.match(name):
        raise WippyError(INVALID, f"metrics: invalid metric name {name!r}")
    labels = labels or {}
    if not isinstance(labels, dict):
        raise WippyError(INVALID, "metrics: labels must be a table of strings")
    for k in labels:
        if not isinstance(k, str) or not LABEL.match(k) or k.startswith("__"):
            raise WippyError(INVALID, f"metrics: invalid label name {k!r}")
    names = tuple(sorted(labels))
    with _lock:
        have = _user.get(name)
        if have is None:
            cls = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}[kind]
            kw = {"buckets": buckets} if kind == "histogram" and buckets else {}
            try:
                m = cls(name, f"{kind} {name} (from Lua)", names, registry=REGISTRY, **kw)
            except ValueError as e:
                raise WippyError(INVALID, f"metrics: {e}") from None
            have = _user[name] = (kind, m, names)
    if have[0] != kind:
        raise WippyError(INVALID, f"metrics: {name} is a {have[0]}, not a {kind}")
    if have[2] != names:
        raise WippyError(INVALID, f"metrics: {name} has labels {list(have[2])}, got {list(names)}")
    m = have[1]
    return m.labels(*[str(labels[k]) for k in names]) if names else m


def counter_add(name, value=1.0, labels=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise WippyError(INVALID, "metrics: a counter only goes up (value must be >= 0)")
    _metric("counter", name, labels).inc(value)


def gauge_set(name, value, labels=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise WippyError(INVALID, "metrics: gauge value must be a number")
    _metric("gauge", name, labels).set(value)


def gauge_add(name, value, labels=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise WippyError(INVALID, "metrics: gauge value must be a number")
    _metric("gauge", name, labels).inc(value)


def histogram_observe(name, value, labels=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise WippyError(INVALID, "metrics: histogram value must be a number")
    _metric("histogram", name, labels).observe(value)


class RuntimeCollector:
    """The runtime's own figures, read at scrape time."""

    def __init__(self, runtime):
        self.runtime = runtime
        # queue id -> what its broker last said, asked for by the scrape (refresh_brokers)
        self.brokers: dict[str, dict] = {}

    async def refresh_brokers(self, timeout: float = BROKER_TIMEOUT) -> None:
        """Ask the brokers of queues on other drivers than memory (Redis, AMQP) how many messages
        wait, all at once; a broker that does not answer within ``timeout`` leaves its queues
        out of this scrape rather than serving a figure of unknown age."""
        from ..data import Resources
        from ..data.queue import MemoryDriver, Queue
        res = Resources.of(self.runtime.node)
        asks = {}
        for qid, q in list(res.objects.items()):
            drv = res.objects.get(q.driver_id) if isinstance(q, Queue) else None
            if drv is not None and not isinstance(drv, MemoryDriver) and not getattr(drv, "closed", False):
                asks[qid] = asyncio.ensure_future(asyncio.wait_for(drv.depth(q.name), timeout))
        figures: dict[str, dict] = {}
        for qid, ask in asks.items():
            try:
                figures[qid] = await ask
            except Exception as e:   # unreachable, closed meanwhile, or too slow: no figure this time
                log.debug("queue %s: no figures from its broker: %s", qid, e)
        self.brokers = figures

    def collect(self):
        rt = self.runtime
        procs = GaugeMetricFamily("wippy_processes", "Processes alive by host", labels=["host"])
        memory = GaugeMetricFamily("wippy_lua_memory_bytes", "Bytes of the Lua state by host", labels=["host"])
        msgs = CounterMetricFamily("wippy_messages", "Messages delivered by host", labels=["host"])
        spawned = CounterMetricFamily("wippy_processes_spawned", "Processes spawned by host", labels=["host"])
        for host_id, h in list(rt.node.hosts.items()):
            used = getattr(h, "memory_used", None)
            if used is not None:
                memory.add_metric([host_id], float(used()))
            S = getattr(h, "S", None)
            if S is None:
                continue
            try:
                procs.add_metric([host_id], h.process_count())
                msgs.add_metric([host_id], float(S.stats.messages))
                spawned.add_metric([host_id], float(S.stats.spawned))
            except Exception:
                continue
        yield procs
        yield memory
        yield GaugeMetricFamily("wippy_registry_version", "Version of the registry (one per applied change)",
                                value=rt.registry.version)
        served = GaugeMetricFamily("wippy_entry_served_revision", "The entry's revision this pod serves (Kubernetes)",
                                   labels=["entry"])
        for entry_id, revision in sorted(getattr(rt.source, "served_revisions", dict)().items()):
            served.add_metric([entry_id], revision)
        yield served
        yield msgs
        yield spawned
        restarts = CounterMetricFamily("wippy_service_restarts", "Restarts of supervised services", labels=["service"])
        for sid, svc in list(getattr(rt.supervisor, "services", {}).items()):
            restarts.add_metric([sid], float(getattr(svc, "restarts", 0)))
        yield restarts
        yield from _queues(rt, self.brokers)


def _queues(rt, brokers: dict[str, dict]):
    """Backlog, lag and consumers of each queue: memory drivers' from the process, the others'
    from what their brokers answered for this scrape (AMQP knows no message ages: no lag)."""
    depth = GaugeMetricFamily("wippy_queue_depth", "Messages waiting per queue (memory, Redis, AMQP drivers)",
                              labels=["queue"])
    inflight = GaugeMetricFamily("wippy_queue_inflight", "Messages delivered, not yet acked (memory, Redis drivers)",
                                 labels=["queue"])
    lag = GaugeMetricFamily("wippy_queue_consumer_lag_seconds", "How long the oldest message waiting for the queue's "
                            "consumers has waited since it was published, 0 when none waits (memory, Redis drivers)",
                            labels=["queue"])
    consumers = GaugeMetricFamily("wippy_queue_consumers", "Consumers of the queue receiving now", labels=["queue"])
    from ..data import Resources
    from ..data.queue import Consumer, MemoryDriver, Queue
    from ..supervisor.supervisor import State
    res = Resources.of(rt.node)
    objects = list(res.objects.items())
    receiving: dict[str, int] = {}
    for _, c in objects:
        if isinstance(c, Consumer) and c.service is not None and c.service.state == State.RUNNING:
            receiving[c.queue_id] = receiving.get(c.queue_id, 0) + 1
    for qid, q in objects:
        if isinstance(q, Queue):
            consumers.add_metric([qid], receiving.get(qid, 0))
            drv = res.objects.get(q.driver_id)
            if isinstance(drv, MemoryDriver) and q.name in drv.queues:
                mq = drv.queues[q.name]
                depth.add_metric([qid], len(mq.ready))
                inflight.add_metric([qid], len(mq.inflight))
                lag.add_metric([qid], drv.lag(q.name))
            elif qid in brokers:
                told = brokers[qid]
                depth.add_metric([qid], told["depth"])
                if "inflight" in told:
                    inflight.add_metric([qid], told["inflight"])
                if "lag" in told:
                    lag.add_metric([qid], told["lag"])
    yield from (depth, inflight, lag, consumers)


_collectors: dict[int, RuntimeCollector] = {}


def attach(runtime) -> None:
    if id(runtime) not in _collectors:
        c = _collectors[id(runtime)] = RuntimeCollector(runtime)
        REGISTRY.register(c)


def detach(runtime) -> None:
    c = _collectors.pop(id(runtime), None)
    if c is not None:
        REGISTRY.unregister(c)


def entry_samples(families, entry) -> list[dict]:
    """The samples of ``families`` (collected, or parsed from a /metrics text) that are about an
    entry: labelled with its id, or, for an HTTP endpoint, with a route ending in its path."""
    data = entry.data if isinstance(entry.data, dict) else {}
    path = data.get("path") if entry.kind == "http.endpoint" else None
    out = []
    for family in families:
        for s in family.samples:
            route = s.labels.get("route")
            if entry.id in s.labels.values() or (path and isinstance(route, str) and route.endswith(path)):
                out.append({"name": s.name, "labels": dict(s.labels), "value": s.value})
    return out


def exposition() -> tuple[bytes, str]:
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


async def serve(runtime, host: str = "127.0.0.1", port: int = 9090, ready: Callable[[], bool] | None = None):
    """Serve GET /metrics, /livez, /readyz and /logs on host:port; returns the aiohttp AppRunner
    (await .cleanup()).

    /livez answers 200 while the event loop runs (this handler runs on it); /readyz answers 200
    once ``ready()`` is true (the runtime started and its source applied its first sync), else 503.
    /logs?entry=ID&limit=N: the entry's recent log records as JSON (what `wippy mcp --kubernetes`
    reads for its `logs` tool; on the port Prometheus scrapes, not a public one)."""
    from aiohttp import web

    from ..logbuffer import LogBuffer
    attach(runtime)
    buffer = LogBuffer().install()

    async def logs(request):
        entry = request.query.get("entry")
        limit = request.query.get("limit", "50")
        if not entry or not limit.isdigit():
            return web.json_response({"error": "GET /logs?entry=NS:NAME[&limit=N]"}, status=400)
        return web.json_response(buffer.of(entry, int(limit)), dumps=lambda o: json.dumps(o, default=str))

    async def forget(_app):
        buffer.remove()

    async def metrics(_request):
        collector = _collectors.get(id(runtime))
        if collector is not None:
            await collector.refresh_brokers()
        body, ctype = exposition()
        return web.Response(body=body, headers={"Content-Type": ctype})

    async def livez(_request):
        return web.Response(text="ok\n")

    async def readyz(_request):
        if ready is None or ready():
            return web.Response(text="ok\n")
        return web.Response(status=503, text="starting: the first sync of entries is not applied yet\n")
    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/logs", logs)
    app.on_cleanup.append(forget)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
