"""queue.driver.amqp over TLS against the real RabbitMQ of scripts/services.sh, which listens for
AMQPS on loopback with a CA and certificates the script makes (the broker's for localhost and
127.0.0.1, a client's whose name is a broker user, for EXTERNAL login)."""
from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.data.test_data_queue import seen
from tests.data.test_data_servers import run_queue_scenario
from tests.runtime.test_live_change import eventually
from wippy.registry import ApplyError
from wippy.runtime import Runtime

pytestmark = pytest.mark.databases


def pem(services: dict, name: str) -> str:
    return (Path(services["WIPPY_AMQP_TLS_DIR"]) / name).read_text()


def tls_url(services: dict, host: str = "localhost") -> str:
    return services["WIPPY_AMQPS_URL"].replace("localhost", host)


async def test_queue_over_amqps_with_the_ca_of_the_entry(runtime, services):
    """Publish, consume, retry and dead-letter over TLS: the broker's certificate checked against tls.ca."""
    driver = {"queue.driver.amqp": {"url": tls_url(services), "tls": {"ca": pem(services, "ca.pem")},
                                    "lifecycle": {"auto_start": True}}}
    await run_queue_scenario(runtime, driver, "tls-" + uuid.uuid4().hex[:8], timeout=30)


async def test_tls_enabled_on_an_amqp_url_and_server_name(runtime, services):
    # the URL names 127.0.0.1 over plain amqp://; tls.enabled turns TLS on, server_name is the
    # name the broker's certificate is checked against
    port = tls_url(services).rsplit(":", 1)[1].strip("/")
    await runtime.put(("app:amqp", "queue.driver.amqp", {
        "url": f"amqp://guest:guest@127.0.0.1:{port}/",
        "tls": {"enabled": True, "ca": pem(services, "ca.pem"), "server_name": "localhost"},
        "lifecycle": {"auto_start": True}}))
    with pytest.raises(ApplyError, match=r"app:amqp2: queue.driver.amqp: could not start: .*"
                                         r"certificate is not valid for 'rabbit.example.com'"):
        await runtime.put(("app:amqp2", "queue.driver.amqp", {
            "url": f"amqp://guest:guest@127.0.0.1:{port}/", "connection_timeout": "5s",
            "tls": {"enabled": True, "ca": pem(services, "ca.pem"), "server_name": "rabbit.example.com"},
            "lifecycle": {"auto_start": True}}))


async def test_broker_certificate_is_verified_unless_told_otherwise(runtime, services):
    with pytest.raises(ApplyError, match=r"app:amqp: queue.driver.amqp: could not start: .*certificate verify failed"):
        await runtime.put(("app:amqp", "queue.driver.amqp", {"url": tls_url(services), "connection_timeout": "5s",
                                                             "lifecycle": {"auto_start": True}}))
    await runtime.put(("app:amqp", "queue.driver.amqp", {"url": tls_url(services),
                                                         "tls": {"insecure_skip_verify": True},
                                                         "lifecycle": {"auto_start": True}}))


APP = """\
version: "1.0"
namespace: app
entries:
  - name: broker
    kind: queue.driver.amqp
    url: "amqps://{host}/"
    auth_mechanism: EXTERNAL
    tls:
      ca: file://{ca}
      cert: ${{env:WIPPY_TEST_AMQP_CERT}}
      key_env: WIPPY_TEST_AMQP_KEY
    lifecycle: {{auto_start: true}}
  - {{name: jobs, kind: queue.queue, driver: broker, queue_name: "{queue}",
      driver_options: {{amqp: {{durable: false, auto_delete: true}}}}}}
  - {{name: seen, kind: store.memory}}
  - name: handle
    kind: function.lua
    modules: [store]
    method: main
    source: |
      local store = require("store")
      return {{main = function(body)
        assert(store.get("app:seen")):set(body.key, body.value)
        return true
      end}}
  - {{name: consumer, kind: queue.consumer, queue: jobs, func: handle, lifecycle: {{auto_start: true}}}}
  - name: publish
    kind: function.lua
    modules: [queue]
    method: main
    source: |
      local queue = require("queue")
      return {{main = function(key, value) return assert(queue.publish("app:jobs", {{key = key, value = value}})) end}}
"""


async def test_external_login_with_a_client_certificate_from_a_folder_app(tmp_path, monkeypatch, services):
    """An app as the docs write it: the CA from a file, the client certificate from the environment
    (${env:NAME} and the legacy key_env), no password: the broker logs the certificate's user in."""
    tls_dir = Path(services["WIPPY_AMQP_TLS_DIR"])
    monkeypatch.setenv("WIPPY_TEST_AMQP_CERT", pem(services, "client.pem"))
    monkeypatch.setenv("WIPPY_TEST_AMQP_KEY", pem(services, "client.key"))
    host = tls_url(services).split("@", 1)[1].rstrip("/")
    (tmp_path / "_index.yaml").write_text(APP.format(host=host, ca=tls_dir / "ca.pem",
                                                     queue="tls-ext-" + uuid.uuid4().hex[:8]))
    rt = Runtime(tmp_path, node_name="t", persist_history=False)
    await rt.start()
    try:
        assert rt.errors == []
        await rt.call("app:publish", "k", "over mutual TLS")

        async def arrived():
            return await seen(rt, "k") == "over mutual TLS"
        await eventually(arrived, timeout=20)
    finally:
        await rt.stop()
