"""temporal.client and temporal.worker fields of the docs, against the real dev server: lifecycle
(auto_start connects when applied, start_timeout), auth (an API key is sent), tls (really used: a
plain dev server refuses the TLS handshake), worker_options given to the SDK worker."""
from __future__ import annotations

import asyncio
import uuid

import pytest

from wippy.kinds.models import EntryInvalid, validate_entry
from wippy.registry import ApplyError, Entry, Op
from wippy.runtime import Runtime

pytestmark = pytest.mark.temporal


@pytest.fixture
async def runtime():
    rt = Runtime(None, node_name="t", persist_history=False)
    await rt.start()
    yield rt
    await rt.stop()


def client(address: str, **data) -> Entry:
    return Entry("app:temporal", "temporal.client", {}, {"address": address, **data})


async def test_auto_start_connects_when_applied_with_an_api_key(runtime, temporal_address):
    # the dev server speaks plain gRPC: the key goes without TLS when told so
    await runtime.registry.apply([Op.create(client(temporal_address, connection_timeout="20s",
                                                   auth={"type": "api_key", "api_key": "k-123"},
                                                   tls={"enabled": False},
                                                   lifecycle={"auto_start": True, "start_timeout": "20s"}))])
    host = runtime.node.hosts["app:temporal"]
    assert host._client is not None                       # connected while applied
    assert host.connect_options["api_key"] == "k-123"
    assert host.connect_timeout == 20.0


@pytest.mark.parametrize("settings", [{"tls": {"enabled": True}}, {"auth": {"type": "api_key", "api_key": "k"}}])
async def test_tls_is_used_a_plain_server_refuses_it(runtime, temporal_address, settings):
    # with an API key TLS is on unless turned off, as a cloud endpoint needs it
    entry = client(temporal_address, connect_timeout="2s", lifecycle={"auto_start": True, "start_timeout": "10s"},
                   **settings)
    with pytest.raises(ApplyError, match="temporal.client: could not start"):
        await runtime.registry.apply([Op.create(entry)])


async def test_worker_options_reach_the_sdk_worker(runtime, temporal_address):
    queue = "q-" + uuid.uuid4().hex[:8]
    await runtime.registry.apply([
        Op.create(client(temporal_address)),
        Op.create(Entry("app:worker", "temporal.worker", {}, {
            "client": "app:temporal", "task_queue": queue,
            "worker_options": {"identity": "wippy-test-worker", "max_concurrent_activity_execution_size": 7,
                               "worker_stop_timeout": "1s"},
            "lifecycle": {"auto_start": True, "depends_on": ["app:temporal"], "start_timeout": "60s"}})),
    ])
    worker = runtime.node.hosts["app:worker"].worker
    assert worker.config()["identity"] == "wippy-test-worker"
    assert worker.config()["max_concurrent_activities"] == 7


async def test_worker_without_auto_start_polls_once_a_service_requiring_it_starts(runtime, temporal_address):
    """The docs' default (auto_start false): the worker waits; a process.service that requires it
    starts it, and workflows can then be started on it."""
    queue = "q-" + uuid.uuid4().hex[:8]
    await runtime.registry.apply([
        Op.create(client(temporal_address)),
        Op.create(Entry("app:worker", "temporal.worker", {}, {"client": "app:temporal", "task_queue": queue})),
        Op.create(Entry("app:procs", "process.host", {}, {})),
        Op.create(Entry("app:waiter", "process.lua", {}, {
            "source": "function main() process.events():receive() end", "method": "main"})),
    ])
    assert "app:worker" not in runtime.node.hosts
    assert runtime.supervisor.states()["app:worker"]["state"] == "stopped"
    await runtime.registry.apply([Op.create(Entry("app:main", "process.service", {}, {
        "process": "app:waiter", "host": "app:procs",
        "lifecycle": {"auto_start": True, "requires": ["app:worker"], "start_timeout": "60s"}}))])
    for _ in range(6000):
        if runtime.supervisor.states()["app:main"]["state"] == "running":
            break
        await asyncio.sleep(0.01)
    assert runtime.supervisor.states()["app:worker"]["state"] == "running"
    assert runtime.node.hosts["app:worker"].worker.task_queue == queue
    await runtime.registry.apply([Op.delete("app:main"), Op.delete("app:worker")])
    assert "app:worker" not in runtime.node.hosts


@pytest.mark.parametrize("kind,data,message", [
    ("temporal.worker", {"client": "c", "worker_options": {"enable_session_worker": True}},
     "worker_options.enable_session_worker is not available"),
    ("temporal.worker", {"client": "c", "lifecycle": {"stable_threshold": "5s"}}, "has no meaning for a temporal.worker"),
    ("temporal.worker", {"client": "c", "lifecycle": {"security": {"actor": {"id": "x"}}}},
     "lifecycle.security is not supported on a temporal.worker"),
    ("temporal.client", {"tls": {"enabled": True, "insecure_skip_verify": True}}, "insecure_skip_verify"),
    ("temporal.client", {"auth": {"type": "api_key"}}, "needs api_key or api_key_file"),
    ("temporal.client", {"tq_prefix": "x-"}, "tq_prefix is not supported"),
])
def test_what_the_sdk_cannot_do_is_refused_by_name(kind, data, message):
    with pytest.raises(EntryInvalid, match=message):
        validate_entry(Entry("app:x", kind, {}, data))
