"""CRDs and `wippy manifests` on a real API server: apply, explain, get with columns, kustomize."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_crds_apply_and_explain(kube):
    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=wippy")
    out = kube.kubectl("explain", "functionluas.spec.pool.max_size").stdout
    assert "Most VMs a lazy or adaptive pool grows to" in out and "Default: 16" in out
    out = kube.kubectl("explain", "wippyapps.spec.replicas").stdout
    assert "Runtime pods" in out
    out = kube.kubectl("explain", "wippyapp.spec.selector").stdout
    assert "Which entries of the namespace belong to the app" in out and "matchExpressions" in out
    out = kube.kubectl("explain", "wippyapp.spec.selector.matchExpressions.operator").stdout
    assert "DoesNotExist" in out


def test_a_selector_the_api_server_could_not_query_is_refused(kube):
    kube.kubectl("create", "namespace", "selector-demo", check=False)
    app = {"apiVersion": "wippy.ai/v1alpha1", "kind": "WippyApp", "metadata": {"name": "shop"},
           "spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "Like", "values": ["web"]}]}}}
    proc = kube.kubectl("apply", "-n", "selector-demo", "-f", "-", input=app, check=False)
    assert proc.returncode != 0 and "spec.selector.matchExpressions[0].operator" in proc.stderr, proc.stderr


def test_manifests_apply_and_get_wippy(kube):
    kube.kubectl("create", "namespace", "manifests-demo", check=False)
    rendered = subprocess.run([sys.executable, "-m", "wippy.cli.main", "manifests", str(ROOT / "examples/hello-world"),
                               "-n", "manifests-demo"], capture_output=True, text=True, check=True).stdout
    out = kube.kubectl("apply", "-f", "-", input=rendered).stdout
    assert "functionlua.wippy.ai/hello.greet created" in out and "wippyapp.wippy.ai/hello-world created" in out
    table = kube.kubectl("get", "wippy", "-n", "manifests-demo").stdout
    for text in ("ID", "METHOD", "READY", "REVISION", "AGE", "hello:greet", "hello:terminal", "hello-world"):
        assert text in table
    short = kube.kubectl("get", "wfl", "-n", "manifests-demo", "-o", "name").stdout
    assert "functionlua.wippy.ai/hello.greet" in short.split()


def test_kustomize_example_applies(kube):
    out = kube.kubectl("apply", "-k", str(ROOT / "examples/kubernetes")).stdout
    assert "functionlua.wippy.ai/hello.greet created" in out
    assert "hello:greet" in kube.kubectl("get", "wippy", "-n", "hello-world").stdout


def test_cross_field_rules_are_checked_by_the_api_server_with_the_models_message(kube):
    """The models' cross-field rules are CEL rules in the CRDs: `kubectl apply` refuses what the
    model refuses, with the model's message, and takes what it takes."""
    from pydantic import ValidationError

    from wippy.kinds.models.catalog import MODELS

    kube.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    kube.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/part-of=wippy")
    kube.kubectl("create", "namespace", "cel-demo", check=False)
    manual = {"mode": "manual", "cert": "C", "key": "K"}
    fn = {"source": "return {f = function() end}", "method": "f"}
    amqps = {"kind": "queue.driver.amqp", "url": "amqps://broker:5671/"}
    consumer = {"queue": "app:q", "func": "app:f"}
    cases = [  # (CRD kind, Wippy kind, spec, the message when refused)
        ("HttpStatic", "http.static", {"fs": "app:files", "directory": "public"}, "give exactly one of 'fs'"),
        ("HttpStatic", "http.static", {"path": "/"}, "give exactly one of 'fs'"),
        ("HttpStatic", "http.static", {"directory": "public"}, None),
        ("HttpStatic", "http.static", {"fs": "app:files", "directory": None}, None),
        ("HttpService", "http.service", {"addr": ":8443", "tls": {"mode": "manual", "cert": "C"}},
         "tls.mode 'manual' needs both cert and key"),
        ("HttpService", "http.service", {"addr": ":8443", "tls": {"cert": "C", "key": "K"}},
         "tls settings are given but tls.mode is empty"),
        ("HttpService", "http.service", {"addr": ":8443", "tls": {"mode": "auto"}}, "tls.mode 'auto' needs"),
        ("HttpService", "http.service", {"addr": ":8443", "tls": {**manual, "client_auth": "require_and_verify"}},
         "needs client_ca (client certificates are verified against it)"),
        ("HttpService", "http.service", {"addr": ":8443", "tls": {**manual, "client_ca": "CA"}},
         "tls.client_ca is given without client_auth"),
        ("HttpService", "http.service", {"addr": ":8443", "tls": {**manual, "client_auth": "require_and_verify",
                                                                   "client_ca": "CA"}}, None),
        ("HttpService", "http.service", {"addr": ":8443", "tls": manual}, None),
        ("HttpService", "http.service", {"addr": ":8080"}, None),
        ("TemporalClient", "temporal.client", {"auth": {"type": "api_key"}}, "auth type api_key needs"),
        ("TemporalClient", "temporal.client", {"auth": {"type": "mtls", "cert_pem": "C"}}, "auth type mtls needs"),
        ("TemporalClient", "temporal.client", {"auth": {"type": "api_key", "api_key_file": "/k"}}, None),
        ("TemporalClient", "temporal.client", {"auth": {"type": "mtls", "cert_file": "/c", "key_pem": "K"}}, None),
        ("FunctionLua", "function.lua", {**fn, "pool": {"buffer": 4}}, "pool.buffer is not supported here"),
        ("FunctionLua", "function.lua", {**fn, "pool": {"warm_start": True}}, "pool.warm_start is not supported"),
        ("FunctionLua", "function.lua", {**fn, "pool": {"warm_start": False, "workers": 2}}, None),
        ("FunctionLua", "function.lua", {**fn, "security": {"actor": {"id": "a"}}},
         "security on a function.lua is not supported"),
        ("ProcessHost", "process.host", {"host": {"workers": 2}}, "host.workers is not supported here"),
        ("ProcessHost", "process.host", {"host": {"local_queue_size": 8}}, "host.local_queue_size is not supported"),
        ("ProcessHost", "process.host", {"host": {"max_processes": 10}}, None),
        ("FsEmbed", "fs.embed", {"directory": "public"}, "directory is read into files by the definition-file loader"),
        ("FsEmbed", "fs.embed", {"files": {"a.txt": "hi"}}, None),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "tls": {"cert": "C", "cert_env": "E", "key": "K"}},
         "tls.cert and tls.cert_env are both given: keep one"),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "tls": {"cert": "C"}}, "tls.cert and tls.key go together"),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "tls": {"cert_env": "C", "key": "K", "ca": "A"}}, None),
        ("QueueDriver", "queue.driver.amqp", {"kind": "queue.driver.amqp", "tls": {"ca": "A"}},
         "tls settings are given but TLS is off"),
        ("QueueDriver", "queue.driver.amqp", {"kind": "queue.driver.amqp", "url": "AMQPS://b/", "tls": {"ca": "A"}},
         None),
        ("QueueDriver", "queue.driver.amqp", {"kind": "queue.driver.amqp", "tls": {"enabled": True, "ca": "A"}}, None),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "auth_mechanism": "EXTERNAL"},
         "auth_mechanism EXTERNAL logs in with the TLS client certificate"),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "auth_mechanism": "EXTERNAL", "tls": {"cert": "C", "key": "K"}},
         None),
        ("QueueDriver", "queue.driver.redis", {"kind": "queue.driver.redis", "url": "redis://r/"}, None),
        ("QueueConsumer", "queue.consumer", {**consumer, "driver_options": {"amqp": {"no_wait": True}}},
         "no_wait: not supported here"),
        ("QueueConsumer", "queue.consumer", {**consumer, "driver_options": {"amqp": {"exclusive": True}}}, None),
        ("ProcessHost", "process.host", {"lifecycle": {"restart": {"max_attempts": 3}}},
         "lifecycle.restart has no meaning for a host"),
        ("ProcessHost", "process.host", {"lifecycle": {"security": {"actor": {"id": "a"}}}},
         "lifecycle.security is not supported on a host"),
        ("ProcessHost", "process.host", {"lifecycle": {"auto_start": True}}, None),
        ("HttpService", "http.service", {"addr": ":8080", "lifecycle": {"stable_threshold": "5s"}},
         "lifecycle.stable_threshold has no meaning for an http.service"),
        ("StoreMemory", "store.memory", {"lifecycle": {"restart": {"max_attempts": 1}}},
         "lifecycle.restart is for supervised services"),
        ("StoreMemory", "store.memory", {"lifecycle": {"auto_start": True, "stop_timeout": "5s"}}, None),
        # durations compare as durations: a number of seconds or any Go spelling of the same time
        ("QueueDriver", "queue.driver.amqp", {**amqps, "default_queue_ttl": "1m", "default_queue_expiry": "30s"},
         "default_queue_ttl and default_queue_expiry both set x-expires: give one"),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "default_queue_ttl": 60, "default_queue_expiry": "1m"}, None),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "default_queue_ttl": "1.5m", "default_queue_expiry": "90000ms"},
         None),
        ("QueueDriver", "queue.driver.amqp", {**amqps, "default_queue_ttl": "5m"}, None),
        ("PgScope", "pg.scope", {"max_retries": 5}, "max_retries: only the default (3) is accepted: members are reached"),
        ("PgScope", "pg.scope", {"protocol_timeout": "6s"}, "protocol_timeout: only the default (5) is accepted"),
        ("PgScope", "pg.scope", {"retry_base_delay": 1}, "retry_base_delay: only the default (0.1) is accepted"),
        ("PgScope", "pg.scope", {"protocol_timeout": "5000ms", "retry_base_delay": "100ms", "retry_max_delay": 1,
                                 "max_retries": 3, "monitor_buffer": 64}, None),
    ]
    for i, (crd_kind, kind, spec, message) in enumerate(cases):
        obj = {"apiVersion": "wippy.ai/v1alpha1", "kind": crd_kind, "metadata": {"name": f"cel-{i}"},
               "spec": {"id": f"app:cel{i}", **spec}}
        proc = kube.kubectl("apply", "--dry-run=server", "-n", "cel-demo", "-f", "-", input=obj, check=False)
        try:
            # a CRD that serves a family of kinds says which in spec.kind; the model is that kind's
            MODELS[kind].model_validate({k: v for k, v in spec.items() if v is not None and k != "kind"})
            model_error = None
        except ValidationError as e:
            model_error = str(e)
        if message is None:
            assert proc.returncode == 0 and model_error is None, (spec, proc.stderr, model_error)
        else:
            assert proc.returncode != 0 and message in proc.stderr, (spec, proc.stderr)
            assert model_error is not None and message in model_error, (spec, model_error)
    # a duration CEL cannot parse is left to the model's own check (the webhook names it), not
    # failed with a CEL conversion error
    bad = {"apiVersion": "wippy.ai/v1alpha1", "kind": "QueueDriver", "metadata": {"name": "cel-bad-duration"},
           "spec": {"id": "app:celbad", **amqps, "default_queue_ttl": "10x", "default_queue_expiry": "5s"}}
    proc = kube.kubectl("apply", "--dry-run=server", "-n", "cel-demo", "-f", "-", input=bad, check=False)
    assert proc.returncode == 0, proc.stderr
