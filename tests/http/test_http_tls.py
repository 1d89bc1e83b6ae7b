"""http.service `tls`: HTTPS with a certificate and key given as PEM (here made by openssl for the
test), client certificates checked against `client_ca`, and settings that cannot work refused."""
from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from wippy.http.manager import HttpManager
from wippy.kinds.models import EntryInvalid, validate_entry
from wippy.registry import ApplyError, Entry, Op
from wippy.runtime import Runtime

from .test_http_live import ROUTER, endpoint, text_fn

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1 signed by it, and a client certificate signed by it."""
    d = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=wippy test CA", cwd=d)
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1"), ("client", "extendedKeyUsage=clientAuth")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", f"/CN={name}", cwd=d)
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return {p.name: p.read_text() for p in d.iterdir()} | {"dir": str(d)}


def service(tls: dict) -> Entry:
    return Entry("app:web", "http.service", data={"addr": "127.0.0.1:0", "tls": tls, "lifecycle": {"auto_start": True}})


@pytest.fixture
async def runtime():
    rt = Runtime(None, node_name="test", persist_history=False)
    await rt.start()
    yield rt
    await HttpManager.of(rt).close()
    await rt.stop()


async def serve(rt: Runtime, tls: dict) -> int:
    await rt.registry.apply([Op.create(service(tls)), Op.create(ROUTER), Op.create(text_fn("hi", "secure hello")),
                             Op.create(endpoint("hi.get", "/hi", "hi"))])
    return HttpManager.of(rt).servers["app:web"].port


def client_context(pki: dict, with_cert: bool = False) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=pki["ca.pem"])
    if with_cert:
        d = Path(pki["dir"])
        ctx.load_cert_chain(d / "client.pem", d / "client.key")
    return ctx


async def test_https_with_a_certificate_given_as_pem(runtime, pki):
    port = await serve(runtime, {"mode": "manual", "cert": pki["server.pem"], "key": pki["server.key"]})
    async with aiohttp.ClientSession() as s:
        async with s.get(f"https://127.0.0.1:{port}/api/hi", ssl=client_context(pki)) as r:
            assert r.status == 200 and await r.text() == "secure hello"
        with pytest.raises(aiohttp.ClientError):          # plain HTTP is not served on a TLS listener
            async with s.get(f"http://127.0.0.1:{port}/api/hi") as r:
                await r.text()
        with pytest.raises(aiohttp.ClientConnectorCertificateError):   # a client that does not trust the CA
            async with s.get(f"https://127.0.0.1:{port}/api/hi", ssl=ssl.create_default_context()) as r:
                await r.text()


async def test_client_certificates_required_and_verified(runtime, pki):
    port = await serve(runtime, {"mode": "manual", "cert": pki["server.pem"], "key": pki["server.key"],
                                 "client_ca": pki["ca.pem"], "client_auth": "require_and_verify"})
    async with aiohttp.ClientSession() as s:
        async with s.get(f"https://127.0.0.1:{port}/api/hi", ssl=client_context(pki, with_cert=True)) as r:
            assert await r.text() == "secure hello"
        with pytest.raises(aiohttp.ClientError):
            async with s.get(f"https://127.0.0.1:{port}/api/hi", ssl=client_context(pki)) as r:
                await r.text()


async def test_turning_tls_on_restarts_the_listener_with_it(runtime, pki):
    port = await serve(runtime, {})
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}/api/hi") as r:
            assert await r.text() == "secure hello"
        on = Entry("app:web", "http.service", data={"addr": f"127.0.0.1:{port}",
                                                    "tls": {"mode": "manual", "cert": pki["server.pem"],
                                                            "key": pki["server.key"]},
                                                    "lifecycle": {"auto_start": True}})
        await runtime.registry.apply([Op.update(on)])
        async with s.get(f"https://127.0.0.1:{port}/api/hi", ssl=client_context(pki)) as r:
            assert await r.text() == "secure hello"


async def test_a_key_that_does_not_match_refuses_the_service(runtime, pki):
    with pytest.raises(ApplyError, match="http.service app:web: tls: cert and key cannot be used"):
        await runtime.registry.apply([Op.create(service({"mode": "manual", "cert": pki["server.pem"],
                                                         "key": pki["client.key"]}))])


@pytest.mark.parametrize("tls,message", [
    ({"mode": "auto"}, "needs a network overlay driver"),
    ({"mode": "manual", "cert": "x"}, "needs both cert and key"),
    ({"cert": "x", "key": "y"}, "tls.mode is empty"),
    ({"mode": "manual", "cert": "x", "key": "y", "client_auth": "require_any", "client_ca": "z"}, "not supported"),
    ({"mode": "manual", "cert": "x", "key": "y", "client_auth": "verify_if_given"}, "needs client_ca"),
])
def test_tls_settings_that_cannot_work_are_refused(tls, message):
    with pytest.raises(EntryInvalid, match=message):
        validate_entry(service(tls))


CLIENT = """\
local http_client = require("http_client")
return {call = function(url, tls)
  local resp, err = http_client.get(url, {tls = tls})
  if err then return {kind = err:kind(), message = err:message()} end
  return {status = resp.status_code, body = resp.body}
end}
"""


async def test_http_client_tls_options(runtime, pki):
    """http_client's per-request tls (lua/http/client.md): ca, cert+key (mTLS), server_name,
    insecure_skip_verify, each against a local HTTPS service."""
    port = await serve(runtime, {"mode": "manual", "cert": pki["server.pem"], "key": pki["server.key"],
                                 "client_ca": pki["ca.pem"], "client_auth": "require_and_verify"})
    await runtime.registry.apply([Op.create(Entry("app:get", "function.lua", data={
        "source": CLIENT, "method": "call", "modules": ["http_client"]}))])
    url = f"https://127.0.0.1:{port}/api/hi"
    ok = await runtime.call("app:get", url, {"ca": pki["ca.pem"], "cert": pki["client.pem"], "key": pki["client.key"]})
    assert ok == {"status": 200, "body": "secure hello"}
    untrusted = await runtime.call("app:get", url, {"cert": pki["client.pem"], "key": pki["client.key"]})
    assert untrusted["kind"] == "Internal" and "certificate" in untrusted["message"].lower()
    no_client_cert = await runtime.call("app:get", url, {"ca": pki["ca.pem"]})
    assert no_client_cert["kind"] == "Internal"
    skip = await runtime.call("app:get", url, {"insecure_skip_verify": True, "cert": pki["client.pem"],
                                               "key": pki["client.key"]})
    assert skip["status"] == 200
    wrong_name = await runtime.call("app:get", url, {"ca": pki["ca.pem"], "cert": pki["client.pem"],
                                                     "key": pki["client.key"], "server_name": "other.example"})
    assert wrong_name["kind"] == "Internal" and "other.example" in wrong_name["message"]
    half = await runtime.call("app:get", url, {"cert": pki["client.pem"]})
    assert half["kind"] == "Invalid" and "together" in half["message"]
    bogus = await runtime.call("app:get", url, {"pin": "x"})
    assert bogus["kind"] == "Invalid" and "pin" in bogus["message"]
