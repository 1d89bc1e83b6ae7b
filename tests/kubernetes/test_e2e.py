"""The whole user story on a real API server, as a user drives it: `helm install` the chart,
run the operator as its Deployment runs it, `kubectl apply` an app rendered by `wippy manifests`,
run the runtime pod exactly as the Deployment the operator made would run it, then change,
break, roll back and restart things while the app serves HTTP."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.harness import processes
from tests.harness.kube_cluster import KubectlError, free_port

ROOT = Path(__file__).resolve().parents[2]
WIPPY = str(Path(sys.executable).with_name("wippy"))
NS = "e2e-shop"


def wait_for(fn, timeout=40.0, what="condition"):
    return processes.wait_for(fn, timeout, what, tolerate=(urllib.error.URLError, ConnectionError, OSError, KeyError,
                                                          ValueError, KubectlError))


class Process:
    """A process started with a Deployment container's command, args and env."""

    def __init__(self, argv: list[str], env: dict, log: Path):
        self.argv, self.env, self.log = argv, env, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Process":
        out = open(self.log, "a")
        self.proc = subprocess.Popen(self.argv, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.proc:
            processes.stop_process(self.proc)

    def restart(self) -> None:
        self.stop()
        self.start()


def container_env(container: dict, pod: str) -> dict:
    """The env a kubelet would give the container (field refs resolved for `pod`)."""
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[e["name"]] = pod
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[e["name"]] = NS
    return env


def get_json(kube, *args):
    return json.loads(kube.kubectl("get", *args, "-o", "json").stdout)


def hello(port: int, who: str = "ann") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/hello/{who}", timeout=3) as r:
        return json.loads(r.read())["message"]


def ready(kube, ref: str) -> dict:
    conds = get_json(kube, ref, "-n", NS).get("status", {}).get("conditions", [])
    return next((c for c in conds if c["type"] == "Ready"), {})


def set_source(kube, source: str) -> None:
    obj = get_json(kube, "functionlua/greeter", "-n", NS)
    obj["spec"]["source"] = source
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        obj["metadata"].pop(k, None)
    obj.pop("status", None)
    kube.kubectl("apply", "-f", "-", input=json.dumps(obj))


def scrape(port: int) -> dict[str, list[dict]]:
    """Series name -> the label sets served (histograms as _bucket/_sum/_count, counters as _total)."""
    from prometheus_client.parser import text_string_to_metric_families
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    series: dict[str, list[dict]] = {}
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
        for suffix in suffixes:  # declared, even before a first sample
            series.setdefault(family.name + suffix, [])
        for sample in family.samples:
            series.setdefault(sample.name, []).append(sample.labels)
    return series


def chart_queries() -> list[str]:
    dashboard = json.loads((ROOT / "helm" / "files" / "dashboard.json").read_text())
    queries = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(queries) >= 10
    return queries + [rule["expr"] for rule in yaml.safe_load((ROOT / "helm" / "files" / "alerts.yaml").read_text())]


def queried_metrics(query: str) -> list[tuple[str, list[str]]]:
    """(metric name, label names it is matched on) of each wippy_ series a PromQL query reads."""
    import re
    return [(m.group(1), re.findall(r"(\w+)\s*(?:=~|!=|!~|=)", m.group(2) or ""))
            for m in re.finditer(r"\b(wippy_\w+)(\{[^}]*\})?", query)]


HANDLER = """local http = require("http")
return {handler = function()
  http.response():write_json({message = "%s, " .. http.request():param("who")})
end}
"""


@pytest.fixture
def procs():
    started: list[Process] = []
    yield started
    for p in reversed(started):
        p.stop()


def test_install_apply_serve_change_break_rollback_restart(kube, helm, tmp_path, procs):
    # 1. helm install: CRDs, the operator's Deployment and RBAC
    subprocess.run([str(helm), "--kubeconfig", str(kube.kubeconfig), "install", "e2e", str(ROOT / "helm"),
                    "-n", "wippy-e2e", "--create-namespace",
                    # the session's other tests may have applied the CRDs already
                    "--take-ownership"],
                   check=True, capture_output=True, text=True)
    op_deploy = get_json(kube, "deployment", "e2e-operator", "-n", "wippy-e2e")
    op_container = op_deploy["spec"]["template"]["spec"]["containers"][0]
    # the image's entrypoint is `python -m wippy_operator`; the chart gives the args
    # the pod's probe and metrics ports; on one machine give them free ones
    local = {"--health-port=": str(free_port()), "--metrics-port=": str(op_metrics := free_port())}
    op_args = [next((k + v for k, v in local.items() if a.startswith(k)), a) for a in op_container["args"]]
    operator = Process([sys.executable, "-m", "wippy_operator", *op_args],
                       {**container_env(op_container, "e2e-operator-0"), "KUBECONFIG": str(kube.kubeconfig)},
                       tmp_path / "operator.log").start()
    procs.append(operator)

    # 2. the app, rendered from its folder, applied with kubectl
    port = free_port()
    docs = list(yaml.safe_load_all(subprocess.run(
        [WIPPY, "manifests", str(ROOT / "examples" / "http-hello"), "--app", "hello", "-n", NS],
        check=True, capture_output=True, text=True).stdout))
    app = next(d for d in docs if d["kind"] == "WippyApp")
    # names as a user writes them: spec.id is the entry's id, whatever the object's name
    for doc in docs:
        doc["metadata"]["name"] = {"app:hello": "greeter", "app:hello.get": "hello-route"}.get(
            doc["spec"].get("id"), doc["metadata"]["name"])
    app["spec"]["env"] = [{"name": "HTTP_ADDR", "value": f"127.0.0.1:{port}"}]
    kube.kubectl("create", "namespace", NS)
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    assert "functionlua.wippy.ai/greeter" in kube.kubectl("get", "wippy", "-n", NS, "-o", "name").stdout

    # 3. the operator turns the app into a Deployment (and RBAC, Services); run its pod as a kubelet would
    deploy = wait_for(lambda: get_json(kube, "deployment", "hello", "-n", NS), what="the app's Deployment")
    for ref in ("serviceaccount/hello-runtime", "role/hello-runtime", "rolebinding/hello-runtime"):
        kube.kubectl("get", ref, "-n", NS)
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["wippy"]
    pod = "hello-7d9f-x1"
    # the pod's metrics port is per pod; on one machine give it a free one
    metrics_port = free_port()
    runtime_argv = [WIPPY] + [a if not a.startswith("0.0.0.0:") else f"127.0.0.1:{metrics_port}"
                              for a in container["args"]]
    runtime = Process(runtime_argv, {**container_env(container, pod), "KUBECONFIG": str(kube.kubeconfig)},
                      tmp_path / "runtime.log").start()
    procs.append(runtime)
    assert wait_for(lambda: hello(port), what="the app to serve") == "hello, ann"
    # the kubelet's probes, as the Deployment defines them, pass on the serving pod
    assert {p["name"]: p["containerPort"] for p in container["ports"]}["metrics"] == 9464
    def probe_status(probe: str) -> int:
        get = container[probe]["httpGet"]
        assert get["port"] == "metrics"
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}{get['path']}", timeout=3) as r:
            return r.status
    assert probe_status("livenessProbe") == 200
    # readiness follows the first sync, which ends after its status report: the app may serve a
    # moment before; a kubelet probes again every period, as this does
    assert wait_for(lambda: probe_status("readinessProbe"), what="the readiness probe") == 200

    # 4. every entry turns Ready (kubectl wait works on the kstatus conditions)
    r = kube.kubectl("wait", "--for=condition=Ready", "-n", NS, "--timeout=30s",
                 "functionlua/greeter", "httpendpoint/hello-route", "httpservice/app.web", check=False)
    assert r.returncode == 0, kube.kubectl("get", "httpservice/app.web", "-n", NS, "-o", "yaml").stdout

    # 5. kubectl apply of a changed function: the next request gets the new code
    set_source(kube, HANDLER % "howdy")
    assert wait_for(lambda: hello(port) == "howdy, ann", what="new code") is True

    # 6. a broken entry: refused by the API server when it breaks the schema ...
    bad = get_json(kube, "functionlua/greeter", "-n", NS)
    bad["spec"]["methd"] = "oops"
    for k in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        bad["metadata"].pop(k, None)
    refused = kube.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
    assert refused.returncode != 0 and "methd" in refused.stderr
    # ... or marked not Ready with the reason when only Lua is wrong, while the app keeps serving
    set_source(kube, "return {handler = function( end}")
    cond = wait_for(lambda: (c := ready(kube, "functionlua/greeter")).get("status") == "False" and c,
                    what="Ready=False")
    assert "syntax" in cond["message"].lower() or "expected" in cond["message"]
    assert hello(port) == "howdy, ann"

    # 7. rollback to revision 1: the original code serves again (as a new revision)
    out = subprocess.run([WIPPY, "rollback", "app:hello", "--to-revision", "1", "-n", NS], check=True,
                         capture_output=True, text=True, env={**os.environ, "KUBECONFIG": str(kube.kubeconfig)})
    assert "revision" in out.stdout
    assert wait_for(lambda: hello(port) == "hello, ann", what="rolled back code") is True
    history = subprocess.run([WIPPY, "history", "app:hello", "-n", NS], check=True, capture_output=True, text=True,
                             env={**os.environ, "KUBECONFIG": str(kube.kubeconfig)}).stdout
    # like `kubectl rollout undo`, the restored spec takes the next number and leaves its old one
    assert [ln.split()[0] for ln in history.splitlines() if ln.strip()[:1].isdigit()] == ["2", "3"], history

    # 8. restarting the operator, the runtime or the API server loses nothing
    operator.restart()
    runtime.restart()
    assert wait_for(lambda: hello(port), what="serving after restarts") == "hello, ann"
    kube.restart_apiserver()
    set_source(kube, HANDLER % "welcome back")
    assert wait_for(lambda: hello(port) == "welcome back, ann", timeout=90, what="change after apiserver restart")
    # the operator's watches survive the restart: Ready reflects the change made after it (the operator,
    # restarted just before, often reads API discovery while the API server is still coming up)
    def ready_for_new_generation():
        obj = get_json(kube, "functionlua/greeter", "-n", NS)
        status, gen = obj.get("status", {}), obj["metadata"]["generation"]
        cond = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        return (status.get("observedGeneration") == gen and cond.get("observedGeneration") == gen
                and cond.get("status") == "True"
                and status.get("applied", {}).get(pod, {}).get("revision") == status.get("activeRevision"))
    assert wait_for(ready_for_new_generation, timeout=90, what="Ready for the change made after the restart")

    # 9. every metric the chart's dashboard and alerts query is served by the live pods
    exposed = {**scrape(metrics_port), **scrape(op_metrics)}
    assert exposed["wippy_http_requests_total"] and exposed["wippy_function_calls_total"]
    assert exposed["wippy_kube_syncs_total"] and exposed["wippy_entry_served_revision"]
    for query in chart_queries():
        for name, matchers in queried_metrics(query):
            assert name in exposed, f"{name} (in {query}) is not served"
            for label in matchers:  # labels of the series the pods serve (Prometheus adds pod, namespace)
                assert any(label in sample for sample in exposed[name]), f"{name} has no label {label}"
