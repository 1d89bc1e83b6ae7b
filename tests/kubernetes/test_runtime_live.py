"""`wippy run --kubernetes` on a real API server: entries applied with kubectl run live in a
runtime process started the way its Deployment starts it (POD_NAME, POD_NAMESPACE, KUBECONFIG),
with the operator projecting the app's entries to it.

What the user sees: a supervised probe process calls two functions in a loop and logs every new
answer (the runtime's JSON log lines), and each entry's `status.applied.<pod>` (kubectl get).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.harness.kube_cluster import KubeCluster, free_port
from tests.harness.operator_process import Operator, install_crds
from wippy.kube.manifests import app_object
from wippy.kube.naming import API_VERSION, crd_kind, object_name, plural

REPO = Path(__file__).resolve().parents[2]
WIPPY = str(Path(sys.executable).with_name("wippy"))
APP = "shop"

PROBE = """
local funcs = require("funcs")
local time = require("time")
local logger = require("logger")

local function answer(id)
  local v, err = funcs.call(id)
  if err then return "error: " .. tostring(err) end
  return tostring(v)
end

local function main()
  local last
  while true do
    local greet, other = answer("app:greet"), answer("app:other")
    if greet .. "|" .. other ~= last then
      logger.info("served", {greet = greet, other = other})
      last = greet .. "|" .. other
    end
    time.sleep("2ms")
  end
end

return {main = main}
"""


def function(value: str) -> str:
    return f'local function main() return "{value}" end\nreturn {{main = main}}\n'


def entry_cr(entry_id: str, kind: str, data: dict, *, app: str = APP, annotations: dict | None = None) -> dict:
    meta = {"name": object_name(entry_id), "labels": {"wippy.ai/app": app}}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": API_VERSION, "kind": crd_kind(kind), "metadata": meta, "spec": {"id": entry_id, **data}}


def app_crs(greet: str = "v1", other: str = "o1") -> list[dict]:
    return [
        entry_cr("app:procs", "process.host", {"lifecycle": {"auto_start": True}}),
        entry_cr("app:greet", "function.lua", {"source": function(greet), "method": "main"}),
        entry_cr("app:other", "function.lua", {"source": function(other), "method": "main"}),
        entry_cr("app:probe", "process.lua", {"source": PROBE, "method": "main", "modules": ["funcs", "time", "logger"]}),
        entry_cr("app:probe.service", "process.service",
                 {"process": "app:probe", "host": "app:procs", "lifecycle": {"auto_start": True}}),
    ]


@pytest.fixture(scope="module")
def operator(kube: KubeCluster, tmp_path_factory) -> Iterator[Operator]:
    """The operator projects each app's entries for its pods (and mirrors their reports)."""
    install_crds(kube)
    op = Operator(kube, tmp_path_factory.mktemp("operator") / "operator.log")
    op.start()
    yield op
    op.stop()


_namespaces = iter(range(1, 1000))


@pytest.fixture
def ns(kube: KubeCluster, operator: Operator) -> str:
    """A namespace with the WippyApp `shop` (no pod runs for its Deployment: the tests start them)."""
    name = f"rt-{os.getpid()}-{next(_namespaces)}"
    kube.kubectl("create", "namespace", name)
    apply(kube, name, [app_object(APP)])
    return name


class Pod:
    """A runtime process started as the Deployment starts it; collects its JSON log lines."""

    def __init__(self, kube: KubeCluster, namespace: str, name: str = "shop-runtime-0", *extra: str,
                 app: str = APP, env: dict | None = None, kubeconfig: Path | None = None,
                 args: list[str] | None = None):
        """``args``: the container's args (default `run --kubernetes --app APP` and ``extra``)."""
        self.kube, self.namespace, self.name, self.app = kube, namespace, name, app
        self.args = args or ["run", "--kubernetes", "--app", app, *extra]
        self.env = env or {}
        self.kubeconfig = kubeconfig or kube.kubeconfig
        self.lines: list[dict] = []
        self.raw: list[str] = []
        self._cond = threading.Condition()
        self.proc: subprocess.Popen | None = None

    def start(self) -> Pod:
        env = dict(os.environ, POD_NAME=self.name, POD_NAMESPACE=self.namespace, KUBECONFIG=str(self.kubeconfig),
                   **self.env)
        self.proc = subprocess.Popen([WIPPY, "--log-format", "json", *self.args],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, args=(self.proc.stderr,), daemon=True).start()
        return self

    def _read(self, stream) -> None:
        for line in stream:
            with self._cond:
                self.raw.append(line)
                try:
                    self.lines.append(json.loads(line))
                except ValueError:
                    pass
                self._cond.notify_all()

    def served(self) -> list[dict]:
        with self._cond:
            return [ln["fields"] for ln in self.lines if ln.get("msg") == "served"]

    def wait_served(self, pred: Callable[[dict], bool], timeout: float = 30) -> dict:
        """Wait until the probe's latest answers satisfy ``pred``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                served = [ln["fields"] for ln in self.lines if ln.get("msg") == "served"]
                if served and pred(served[-1]):
                    return served[-1]
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc and self.proc.poll() is not None):
                    raise AssertionError(f"not served within {timeout}s; log:\n{''.join(self.raw[-40:])}")
                self._cond.wait(left)

    def stop(self) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def pods() -> Iterator[list[Pod]]:
    started: list[Pod] = []
    yield started
    for p in started:
        if p.proc and p.proc.poll() is None:
            p.proc.kill()
            p.proc.wait()


def apply(kube: KubeCluster, ns: str, objs: list[dict]) -> None:
    kube.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump_all(objs))


def applied(kube: KubeCluster, ns: str, entry_id: str, kind: str, pod: str) -> dict | None:
    obj = json.loads(kube.kubectl("get", plural(crd_kind(kind)), object_name(entry_id), "-n", ns, "-o", "json").stdout)
    return ((obj.get("status") or {}).get("applied") or {}).get(pod)


def wait_applied(kube: KubeCluster, ns: str, entry_id: str, pod: str, pred: Callable[[dict], bool],
                 kind: str = "function.lua", timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        got = applied(kube, ns, entry_id, kind, pod)
        if got is not None and pred(got):
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"status.applied.{pod} of {entry_id} is {got}")
        time.sleep(0.1)


def projected(kube: KubeCluster, ns: str, app: str = APP) -> int:
    """How many entries the operator has handed to the app's pods."""
    maps = json.loads(kube.kubectl("get", "configmaps", "-n", ns, "-l", f"wippy.ai/app={app},wippy.ai/projection=entries",
                                   "-o", "json").stdout)["items"]
    return sum(len(m.get("data") or {}) for m in maps)


def start_app(kube: KubeCluster, ns: str, pods: list[Pod], **values: str) -> Pod:
    """The app's entries, then its pod once the operator has handed them all over (as a pod
    started after its app; one started meanwhile would see the app grow entry by entry)."""
    crs = app_crs(**values)
    apply(kube, ns, crs)
    deadline = time.monotonic() + 30
    while projected(kube, ns) < len(crs):
        assert time.monotonic() < deadline, "the app's entries were not projected"
        time.sleep(0.05)
    pod = Pod(kube, ns).start()
    pods.append(pod)
    return pod


def test_kubectl_apply_of_a_changed_function_changes_the_running_app(kube: KubeCluster, ns: str, pods) -> None:
    pod = start_app(kube, ns, pods)
    pod.wait_served(lambda s: s == {"greet": "v1", "other": "o1"})
    for entry_id, kind in [("app:greet", "function.lua"), ("app:probe.service", "process.service")]:
        got = wait_applied(kube, ns, entry_id, pod.name, lambda a: a["generation"] == 1, kind=kind)
        assert got.get("error") is None and got["time"]

    apply(kube, ns, app_crs(greet="v2"))
    pod.wait_served(lambda s: s["greet"] == "v2", timeout=10)
    wait_applied(kube, ns, "app:greet", pod.name, lambda a: a["generation"] == 2 and a.get("error") is None)
    # the probe kept running: it saw v2 without a restart of the service or the process
    assert [s["greet"] for s in pod.served()] == ["v1", "v2"]

    kube.kubectl("delete", "-n", ns, plural(crd_kind("function.lua")), object_name("app:other"))
    pod.wait_served(lambda s: s["other"].startswith("error") and "app:other" in s["other"], timeout=10)
    assert pod.proc.poll() is None


def test_invalid_lua_is_reported_and_the_last_good_version_keeps_serving(kube: KubeCluster, ns: str, pods) -> None:
    pod = start_app(kube, ns, pods)
    pod.wait_served(lambda s: s == {"greet": "v1", "other": "o1"})

    broken = app_crs(other="o2")
    broken[2]["spec"]["source"] = "local function main( return 'o2' end"
    apply(kube, ns, broken)
    got = wait_applied(kube, ns, "app:other", pod.name, lambda a: a.get("error") is not None)
    assert "syntax error" in got["error"] and "app:other" in got["error"]
    assert got["generation"] == 2 and got["serving"] == {"revision": 1, "generation": 1}  # still serves

    # the others keep working and keep changing
    apply(kube, ns, [*app_crs(greet="v2")[:2], *broken[2:]])
    pod.wait_served(lambda s: s == {"greet": "v2", "other": "o1"}, timeout=10)
    wait_applied(kube, ns, "app:greet", pod.name, lambda a: a["generation"] == 2 and a.get("error") is None)

    apply(kube, ns, app_crs(greet="v2", other="o3"))
    pod.wait_served(lambda s: s == {"greet": "v2", "other": "o3"}, timeout=10)
    got = wait_applied(kube, ns, "app:other", pod.name, lambda a: a.get("error") is None)
    assert got["generation"] == 3 and "serving" not in got


def test_one_broken_entry_among_twenty_is_refused_with_its_dependents_and_the_rest_load(
        kube: KubeCluster, ns: str, pods) -> None:
    twenty = [entry_cr(f"app:f{i}", "function.lua", {"source": function(f"f{i}"), "method": "main"}) for i in range(20)]
    twenty[7] = entry_cr("app:f7", "library.lua", {"source": "return {n = 1 + }"})  # a syntax error
    dependents = [
        entry_cr("app:user", "library.lua", {"source": 'return require("f7")', "imports": {"f7": "app:f7"}}),
        entry_cr("app:caller", "function.lua", {"source": 'return {main = function() return require("u").n end}',
                                                "method": "main", "imports": {"u": "app:user"}}),
    ]
    apply(kube, ns, twenty + dependents)
    pod = start_app(kube, ns, pods)
    pod.wait_served(lambda s: s == {"greet": "v1", "other": "o1"})   # the rest of the app runs

    got = wait_applied(kube, ns, "app:f7", pod.name, lambda a: a.get("error") is not None, kind="library.lua")
    assert got["error"].startswith(f"{ns}/libraryluas/{object_name('app:f7')}: entry app:f7: Lua syntax error")
    got = wait_applied(kube, ns, "app:user", pod.name, lambda a: a.get("error") is not None, kind="library.lua")
    assert got["error"] == (f"{ns}/libraryluas/{object_name('app:user')}: entry app:user: refused: "
                            "depends on app:f7, which was refused")
    got = wait_applied(kube, ns, "app:caller", pod.name, lambda a: a.get("error") is not None)
    assert got["error"].endswith("entry app:caller: refused: depends on app:user, which was refused")
    for i in (i for i in range(20) if i != 7):
        wait_applied(kube, ns, f"app:f{i}", pod.name, lambda a: a["generation"] == 1 and a.get("error") is None)

    # fixing the broken entry brings in its dependents
    twenty[7]["spec"]["source"] = "return {n = 7}"
    apply(kube, ns, [twenty[7]])
    wait_applied(kube, ns, "app:caller", pod.name, lambda a: a.get("error") is None)
    wait_applied(kube, ns, "app:user", pod.name, lambda a: a.get("error") is None, kind="library.lua")


def test_changes_apply_after_an_apiserver_restart(kube: KubeCluster, ns: str, pods) -> None:
    pod = start_app(kube, ns, pods)
    pod.wait_served(lambda s: s["greet"] == "v1")

    kube.restart_apiserver()
    # applied as soon as the API server answers, before the runtime's watch is back
    apply(kube, ns, app_crs(greet="after-restart"))
    pod.wait_served(lambda s: s["greet"] == "after-restart", timeout=30)
    wait_applied(kube, ns, "app:greet", pod.name, lambda a: a["generation"] == 2)

    apply(kube, ns, app_crs(greet="later"))
    pod.wait_served(lambda s: s["greet"] == "later", timeout=10)
    assert pod.proc.poll() is None


def test_a_restarted_runtime_converges_on_what_changed_while_it_was_down(kube: KubeCluster, ns: str, pods) -> None:
    pod = start_app(kube, ns, pods)
    pod.wait_served(lambda s: s["greet"] == "v1")
    assert pod.stop() == 0

    apply(kube, ns, app_crs(greet="v2", other="o2"))
    kube.kubectl("delete", "-n", ns, plural(crd_kind("function.lua")), object_name("app:other"))

    again = Pod(kube, ns).start()
    pods.append(again)
    again.wait_served(lambda s: s["greet"] == "v2" and s["other"].startswith("error"))
    wait_applied(kube, ns, "app:greet", again.name, lambda a: a["generation"] == 2 and a.get("error") is None)


def test_pinned_revision_is_served_until_the_pin_is_removed(kube: KubeCluster, ns: str, pods) -> None:
    pod = start_app(kube, ns, pods)
    pod.wait_served(lambda s: s["greet"] == "v1")
    name = app_crs()[1]["metadata"]["name"]
    apply(kube, ns, app_crs(greet="v2"))
    pod.wait_served(lambda s: s["greet"] == "v2")

    fn = plural(crd_kind("function.lua"))
    kube.kubectl("annotate", "-n", ns, fn, name, "wippy.ai/pin-revision=1")
    pod.wait_served(lambda s: s["greet"] == "v1", timeout=10)
    got = wait_applied(kube, ns, "app:greet", pod.name, lambda a: a.get("revision") == 1)
    assert got.get("error") is None

    # a pin to a revision that does not exist: the entry says so, the pods keep serving the old pin
    kube.kubectl("annotate", "-n", ns, fn, name, "wippy.ai/pin-revision=7", "--overwrite")
    deadline = time.monotonic() + 30
    while (ready := _ready(kube, ns, fn, name)).get("reason") != "PinnedRevisionMissing":
        assert time.monotonic() < deadline, ready
        time.sleep(0.1)
    assert "7" in ready["message"] and pod.served()[-1]["greet"] == "v1"

    kube.kubectl("annotate", "-n", ns, fn, name, "wippy.ai/pin-revision-")
    pod.wait_served(lambda s: s["greet"] == "v2", timeout=10)
    wait_applied(kube, ns, "app:greet", pod.name, lambda a: a.get("error") is None and a["generation"] == 2)


def _ready(kube: KubeCluster, ns: str, resource: str, name: str) -> dict:
    obj = json.loads(kube.kubectl("get", resource, name, "-n", ns, "-o", "json").stdout)
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), {})


def test_each_pod_reports_under_its_own_name(kube: KubeCluster, ns: str, pods) -> None:
    first = start_app(kube, ns, pods)
    # a second replica that relists every second (the safety resync) must change nothing
    second = Pod(kube, ns, "shop-runtime-1", "--resync", "1").start()
    pods.append(second)
    for pod in (first, second):
        pod.wait_served(lambda s: s["greet"] == "v1")
    apply(kube, ns, app_crs(greet="v2"))
    for pod in (first, second):
        pod.wait_served(lambda s: s["greet"] == "v2", timeout=10)
        wait_applied(kube, ns, "app:greet", pod.name, lambda a: a["generation"] == 2)
    time.sleep(2.5)  # two resyncs of the second pod
    assert [s["greet"] for s in second.served()] == ["v1", "v2"]
    reports = json.loads(kube.kubectl("get", plural(crd_kind("function.lua")), object_name("app:greet"), "-n", ns,
                                      "-o", "jsonpath={.status.applied}").stdout)
    assert set(reports) == {first.name, second.name}


def test_a_pod_started_with_its_deployment_args_serves_only_the_entries_its_app_selects(
        kube: KubeCluster, ns: str, pods) -> None:
    app = {"apiVersion": API_VERSION, "kind": "WippyApp", "metadata": {"name": APP},
           "spec": {"selector": {"matchExpressions": [{"key": "track", "operator": "In", "values": ["stable"]}]}}}
    apply(kube, ns, [app])
    deadline = time.monotonic() + 30
    while not (found := json.loads(kube.kubectl("get", "deployment", APP, "-n", ns, "-o", "json", check=False).stdout
                                   or "null")):
        assert time.monotonic() < deadline, "no Deployment"
        time.sleep(0.1)
    args = found["spec"]["template"]["spec"]["containers"][0]["args"]
    args[args.index("--metrics") + 1] = f"127.0.0.1:{free_port()}"   # per pod; on one machine give it a free one
    crs = app_crs()
    for cr in crs:
        cr["metadata"]["labels"] = {"track": "canary" if cr["spec"]["id"] == "app:other" else "stable"}
    apply(kube, ns, crs)
    pod = Pod(kube, ns, args=args).start()
    pods.append(pod)
    pod.wait_served(lambda s: s["greet"] == "v1" and s["other"].startswith("error") and "app:other" in s["other"])
    assert applied(kube, ns, "app:other", "function.lua", pod.name) is None   # not this pod's to report

    fn = plural(crd_kind("function.lua"))
    kube.kubectl("label", "-n", ns, fn, object_name("app:other"), "track=stable", "--overwrite")
    pod.wait_served(lambda s: s == {"greet": "v1", "other": "o1"}, timeout=10)
    kube.kubectl("label", "-n", ns, fn, object_name("app:greet"), "track=canary", "--overwrite")
    pod.wait_served(lambda s: s["greet"].startswith("error") and s["other"] == "o1", timeout=10)


def test_run_kubernetes_needs_an_app(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WIPPY_APP"}
    out = subprocess.run([WIPPY, "run", "--kubernetes"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "--app" in out.stderr


def get(url: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_http_app_from_wippy_manifests_serves_and_changes_live(kube: KubeCluster, ns: str, pods) -> None:
    rendered = subprocess.run([WIPPY, "manifests", str(REPO / "examples" / "http-hello"), "--app", "hello"],
                              capture_output=True, text=True, check=True).stdout
    kube.kubectl("apply", "-n", ns, "-f", "-", input=rendered)
    port = free_port()
    pod = Pod(kube, ns, "hello-runtime-0", app="hello", env={"HTTP_ADDR": f"127.0.0.1:{port}"}).start()
    pods.append(pod)
    url = f"http://127.0.0.1:{port}/api/hello/Ann"
    assert get(url, timeout=30) == {"message": "hello, Ann"}

    kube.kubectl("apply", "-n", ns, "-f", "-", input=rendered.replace('or "hello"', 'or "hi"'))
    deadline = time.monotonic() + 10
    while get(url) != {"message": "hi, Ann"}:
        assert time.monotonic() < deadline, get(url)
        time.sleep(0.02)
    wait_applied(kube, ns, "app:hello", pod.name, lambda a: a["generation"] == 2 and a.get("error") is None)
    # a route added with kubectl is served by the same listener
    endpoint = next(o for o in yaml.safe_load_all(rendered) if o["spec"].get("id") == "app:hello.get")
    endpoint["metadata"]["name"] = object_name("app:hello.post")
    endpoint["spec"].update(id="app:hello.post", method="POST")
    apply(kube, ns, [endpoint])
    deadline = time.monotonic() + 10
    while True:
        try:
            req = urllib.request.Request(url, method="POST", data=b"")
            with urllib.request.urlopen(req, timeout=5) as resp:
                assert json.loads(resp.read()) == {"message": "hi, Ann"}
                break
        except urllib.error.HTTPError:
            assert time.monotonic() < deadline
            time.sleep(0.02)


def test_runtime_needs_only_the_rights_the_operator_grants_it(kube: KubeCluster, ns: str, pods) -> None:
    from wippy_operator.children import role_rules

    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
            "metadata": {"name": "runtime"}, "rules": role_rules(APP)}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "runtime"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "runtime"},
               "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}
    apply(kube, ns, [role, binding])
    apply(kube, ns, app_crs())
    pod = Pod(kube, ns, "shop-runtime-0", kubeconfig=kube.kubeconfig_for("alice")).start()
    pods.append(pod)
    pod.wait_served(lambda s: s == {"greet": "v1", "other": "o1"})
    apply(kube, ns, app_crs(greet="v2"))
    pod.wait_served(lambda s: s["greet"] == "v2", timeout=10)
    wait_applied(kube, ns, "app:greet", pod.name, lambda a: a["generation"] == 2 and a.get("error") is None)
    assert not [ln for ln in pod.raw if "forbidden" in ln.lower()]
