"""Smoke tests proving the harness runs a real kube-apiserver + etcd (and helm, kubectl)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import pytest

from tests.harness.kube_cluster import KubeCluster, KubectlError

GROUP = "harness.wippy.test"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"widgets.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wdg"]},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": [
                    {"name": "Size", "type": "integer", "jsonPath": ".spec.size"}
                ],
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "source": {"type": "string"},
                                },
                            },
                            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                        },
                    }
                },
            }
        ],
    },
}


def widget(name: str, size: object, namespace: str = "default") -> dict:
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": size, "source": "return 1"},
    }


@pytest.fixture(scope="module")
def widget_crd(kube: KubeCluster) -> str:
    kube.kubectl("apply", "-f", "-", input=CRD)
    kube.kubectl("wait", "--for=condition=Established", f"crd/widgets.{GROUP}", "--timeout=60s")
    return f"widgets.{GROUP}"


def test_server_version_and_namespaces(kube: KubeCluster) -> None:
    out = json.loads(kube.kubectl("version", "-o", "json").stdout)
    assert out["serverVersion"]["gitVersion"].startswith("v1.")
    assert out["serverVersion"]["gitVersion"] != "v0.0.0-master+$Format:%H$"
    names = kube.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert {"namespace/default", "namespace/kube-system", "namespace/kube-public"} <= set(names)
    assert os.environ["KUBECONFIG"] == str(kube.kubeconfig)


def test_crd_and_custom_resource_roundtrip(kube: KubeCluster, widget_crd: str) -> None:
    kube.kubectl("apply", "-f", "-", input=widget("w1", 3))
    got = json.loads(kube.kubectl("get", "widget", "w1", "-o", "json").stdout)
    assert got["spec"] == {"size": 3, "source": "return 1"}
    assert got["metadata"]["generation"] == 1
    assert int(got["metadata"]["resourceVersion"]) > 0
    # printer columns and short names come from the real CRD machinery
    table = kube.kubectl("get", "wdg", "w1").stdout
    assert "SIZE" in table and "w1" in table
    # server-side OpenAPI validation rejects a bad spec
    bad = kube.kubectl("apply", "-f", "-", input=widget("w2", "big"), check=False)
    assert bad.returncode != 0
    assert "spec.size" in bad.stderr
    # spec change bumps generation; the status subresource does not
    kube.kubectl("patch", "widget", "w1", "--type=merge", "-p", '{"spec":{"size":4}}')
    kube.kubectl(
        "patch", "widget", "w1", "--subresource=status", "--type=merge",
        "-p", '{"status":{"observedGeneration":2}}',
    )  # fmt: skip
    got = json.loads(kube.kubectl("get", "widget", "w1", "-o", "json").stdout)
    assert got["metadata"]["generation"] == 2
    assert got["status"] == {"observedGeneration": 2}
    kube.kubectl("delete", "widget", "w1", "--wait=true")


def test_rbac_applies_to_non_admin_users(kube: KubeCluster, widget_crd: str) -> None:
    ns = "rbac-test"
    kube.kubectl("create", "namespace", ns)
    assert kube.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}").stdout == "admin"
    who = json.loads(kube.kubectl("auth", "whoami", "-o", "json", user="alice").stdout)
    assert who["status"]["userInfo"]["username"] == "alice"
    assert "wippy-testers" in who["status"]["userInfo"]["groups"]

    denied = kube.kubectl("get", "widgets", "-n", ns, user="alice", check=False)
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()

    kube.kubectl(
        "create", "role", "widget-reader", "-n", ns, "--verb=get,list,watch",
        f"--resource=widgets.{GROUP}",
    )  # fmt: skip
    kube.kubectl(
        "create", "rolebinding", "testers-read", "-n", ns, "--role=widget-reader",
        "--group=wippy-testers",
    )  # fmt: skip
    assert kube.kubectl("get", "widgets", "-n", ns, user="alice").returncode == 0
    with pytest.raises(KubectlError):
        kube.kubectl("apply", "-f", "-", input=widget("nope", 1, ns), user="alice")

    # the ServiceAccount-like token user has no rights until bound
    sa_user = "system:serviceaccount:wippy-system:wippy-operator"
    can = kube.kubectl("auth", "can-i", "list", "widgets", "-A", user=sa_user, check=False)
    assert can.stdout.strip() == "no"

    # TokenRequest works (signing key configured): a real ServiceAccount token
    kube.kubectl("create", "serviceaccount", "robot", "-n", ns)
    token = kube.kubectl("create", "token", "robot", "-n", ns, "--duration=10m").stdout.strip()
    who = json.loads(kube.kubectl("auth", "whoami", "-o", "json", f"--token={token}").stdout)
    assert who["status"]["userInfo"]["username"] == f"system:serviceaccount:{ns}:robot"


class _Watcher(threading.Thread):
    """A minimal informer: list+watch ConfigMaps in a namespace with the official client,
    resuming from the last resourceVersion after errors and relisting on 410 Gone."""

    def __init__(self, api_client: object, namespace: str) -> None:
        super().__init__(daemon=True)
        from kubernetes import client

        self.api = client.CoreV1Api(api_client)
        self.namespace = namespace
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: dict[str, str] = {}
        self.watch_calls = 0
        self.errors: list[str] = []
        self.relists = 0
        self.stopping = threading.Event()
        self.rv = self._list()

    def _list(self) -> str:
        resp = self.api.list_namespaced_config_map(self.namespace)
        for cm in resp.items:
            if cm.metadata.name not in self.seen:
                self.events.put(("LISTED", cm.metadata.name))
            self.seen[cm.metadata.name] = cm.metadata.resource_version
        return resp.metadata.resource_version

    def run(self) -> None:
        from kubernetes import watch
        from kubernetes.client.exceptions import ApiException

        while not self.stopping.is_set():
            self.watch_calls += 1
            w = watch.Watch()
            try:
                for ev in w.stream(
                    self.api.list_namespaced_config_map,
                    self.namespace,
                    resource_version=self.rv,
                    timeout_seconds=600,
                    _request_timeout=(5, 620),
                ):
                    obj = ev["object"]
                    self.rv = obj.metadata.resource_version
                    self.seen[obj.metadata.name] = self.rv
                    self.events.put((ev["type"], obj.metadata.name))
                    if self.stopping.is_set():
                        w.stop()
            except ApiException as e:
                self.errors.append(f"ApiException {e.status}")
                if e.status == 410:
                    self.relists += 1
                    self._relist()
                else:
                    time.sleep(0.2)
            except Exception as e:  # connection refused/reset while the apiserver is down
                self.errors.append(type(e).__name__)
                time.sleep(0.2)

    def _relist(self) -> None:
        try:
            self.rv = self._list()
        except Exception as e:
            self.errors.append(f"relist: {type(e).__name__}")
            time.sleep(0.2)

    def wait_for(self, name: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                kind, got = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            if got == name:
                return kind
        raise AssertionError(
            f"no event for {name!r} within {timeout}s; seen={self.seen} errors={self.errors}"
        )


def test_watch_survives_apiserver_restart(kube: KubeCluster) -> None:
    ns = "watch-test"
    kube.kubectl("create", "namespace", ns)
    watcher = _Watcher(kube.api_client(), ns)
    watcher.start()
    try:
        kube.kubectl("create", "configmap", "before", "-n", ns, "--from-literal=k=v")
        assert watcher.wait_for("before") == "ADDED"
        calls_before = watcher.watch_calls

        t0 = time.monotonic()
        kube.restart_apiserver()
        restart_s = time.monotonic() - t0
        assert kube.running

        # the data survived in etcd and the apiserver serves it again
        assert kube.kubectl("get", "configmap", "before", "-n", ns, "-o", "name").stdout.strip()
        kube.kubectl("create", "configmap", "after", "-n", ns, "--from-literal=k=v")
        assert watcher.wait_for("after", timeout=60) in ("ADDED", "LISTED")
        assert watcher.watch_calls > calls_before, "watch stream was not re-established"
        assert set(watcher.seen) >= {"before", "after"}
        print(
            f"apiserver restart took {restart_s:.1f}s; watch calls={watcher.watch_calls} "
            f"relists={watcher.relists} errors={watcher.errors}"
        )
    finally:
        watcher.stopping.set()


def _helm_env(tmp_path: Path, kube: KubeCluster) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KUBECONFIG=str(kube.kubeconfig),
        HELM_CACHE_HOME=str(tmp_path / "helm-cache"),
        HELM_CONFIG_HOME=str(tmp_path / "helm-config"),
        HELM_DATA_HOME=str(tmp_path / "helm-data"),
    )
    return env


def _make_chart(root: Path) -> Path:
    chart = root / "tinychart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: tinychart\nversion: 0.1.0\nappVersion: '1.0'\n"
        "kubeVersion: '>=1.30.0-0'\n"
    )
    (chart / "values.yaml").write_text("greeting: hello\nreplicas: 1\n")
    (chart / "templates" / "configmap.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: {{ .Release.Name }}-config
              labels:
                app.kubernetes.io/name: {{ .Chart.Name }}
            data:
              greeting: {{ .Values.greeting | quote }}
              kubeVersion: {{ .Capabilities.KubeVersion.Version | quote }}
            """
        )
    )
    (chart / "templates" / "serviceaccount.yaml").write_text(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {{ .Release.Name }}-sa\n"
    )
    return chart


def test_helm_version(helm: Path) -> None:
    out = subprocess.run([str(helm), "version", "--short"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("v3.")


def test_helm_template_applies_with_server_dry_run(
    kube: KubeCluster, helm: Path, tmp_path: Path
) -> None:
    chart = _make_chart(tmp_path)
    env = _helm_env(tmp_path, kube)
    rendered = subprocess.run(
        [str(helm), "template", "demo", str(chart), "--set", "greeting=hi"],
        capture_output=True, text=True, check=True, env=env,
    ).stdout  # fmt: skip
    assert "name: demo-config" in rendered and 'greeting: "hi"' in rendered
    # helm's default capabilities follow its client-go (not v1.20)
    assert 'kubeVersion: "v1.20.0"' not in rendered
    out = kube.kubectl("apply", "--dry-run=server", "-n", "default", "-f", "-", input=rendered)
    assert "configmap/demo-config created (server dry run)" in out.stdout
    assert "serviceaccount/demo-sa created (server dry run)" in out.stdout
    missing = kube.kubectl("get", "configmap", "demo-config", check=False)
    assert missing.returncode != 0  # dry run persisted nothing


def test_helm_install_against_cluster(kube: KubeCluster, helm: Path, tmp_path: Path) -> None:
    chart = _make_chart(tmp_path)
    env = _helm_env(tmp_path, kube)
    ns = "helm-test"

    def run(*args: str) -> str:
        return subprocess.run(
            [str(helm), *args], capture_output=True, text=True, check=True, env=env, timeout=120
        ).stdout

    run("install", "rel", str(chart), "-n", ns, "--create-namespace", "--wait", "--timeout=60s")
    cm = json.loads(kube.kubectl("get", "configmap", "rel-config", "-n", ns, "-o", "json").stdout)
    assert cm["data"]["greeting"] == "hello"
    assert cm["data"]["kubeVersion"].startswith("v1.")
    releases = json.loads(run("list", "-n", ns, "-o", "json"))
    assert [r["name"] for r in releases] == ["rel"] and releases[0]["status"] == "deployed"
    run("uninstall", "rel", "-n", ns, "--wait")
    assert kube.kubectl("get", "configmap", "rel-config", "-n", ns, check=False).returncode != 0
