"""What a WippyApp becomes: the runtime Deployment, its ServiceAccount and least-privilege Role,
a Service per http.service entry, a headless Service for peer discovery (its `mesh` port is the
pods' internode mesh), the Secret holding the app's mesh key and a PodDisruptionBudget, all owned
by the app so that deleting it deletes them (the app's entry maps are written by projection.py)."""
from __future__ import annotations

import base64
import os
import re
import secrets

from wippy.kube import projection
from wippy import __version__
from wippy.kube.crds import APP_KIND, APP_LABEL, RUNTIME_IMAGE, WippyAppSpec
from wippy.kube.naming import API_VERSION, GROUP

MANAGED = {"app.kubernetes.io/managed-by": "wippy-operator"}
COMPONENT = "app.kubernetes.io/component"
HTTP_PORT_NAME = "http"
MESH_PORT_NAME = "mesh"
MESH_PORT = 7950
MESH_KEY = "key"


def labels(app: str, component: str) -> dict:
    return {APP_LABEL: app, "app.kubernetes.io/name": "wippy-runtime", "app.kubernetes.io/instance": app,
            COMPONENT: component, **MANAGED}


def pod_labels(app: str) -> dict:
    return {APP_LABEL: app, "app.kubernetes.io/name": "wippy-runtime", "app.kubernetes.io/instance": app}


def dns_label(text: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:63].rstrip("-")
    return name if name[:1].isalpha() else ("s-" + name)[:63].rstrip("-")


def http_port(addr: str) -> int | None:
    port = addr.rpartition(":")[2]
    return int(port) if port.isdigit() and int(port) > 0 else None


def service_account(app: str) -> str:
    return f"{app}-runtime"


def render(app_obj: dict, http_services: dict[str, str]) -> list[dict]:
    """Objects for the app; `http_services`: http.service entry id -> its addr."""
    meta = app_obj["metadata"]
    app, ns = meta["name"], meta["namespace"]
    spec = WippyAppSpec.model_validate(app_obj.get("spec") or {})
    owner = [{"apiVersion": API_VERSION, "kind": APP_KIND, "name": app, "uid": meta["uid"],
              "controller": True, "blockOwnerDeletion": True}]

    def obj(api_version: str, kind: str, name: str, component: str, **rest) -> dict:
        return {"apiVersion": api_version, "kind": kind,
                "metadata": {"name": name, "namespace": ns, "labels": labels(app, component), "ownerReferences": owner},
                **rest}

    account = obj("v1", "ServiceAccount", service_account(app), "runtime")
    if spec.serviceAccountAnnotations:
        account["metadata"]["annotations"] = dict(spec.serviceAccountAnnotations)
    ports = {eid: p for eid, p in ((eid, http_port(addr)) for eid, addr in sorted(http_services.items())) if p}
    objects = [
        account,
        obj("rbac.authorization.k8s.io/v1", "Role", service_account(app), "runtime", rules=role_rules(app)),
        obj("rbac.authorization.k8s.io/v1", "RoleBinding", service_account(app), "runtime",
            roleRef={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": service_account(app)},
            subjects=[{"kind": "ServiceAccount", "name": service_account(app), "namespace": ns}]),
        obj("apps/v1", "Deployment", app, "runtime", spec=_deployment_spec(app, ns, spec, sorted(set(ports.values())))),
        obj("v1", "Service", f"{app}-peers", "peers", spec={
            "clusterIP": "None", "publishNotReadyAddresses": True, "selector": pod_labels(app),
            "ports": [{"name": MESH_PORT_NAME, "port": MESH_PORT, "targetPort": MESH_PORT_NAME, "protocol": "TCP"}]}),
        obj("policy/v1", "PodDisruptionBudget", app, "runtime", spec={
            "minAvailable": spec.minAvailable if spec.minAvailable is not None else max(spec.replicas - 1, 0),
            "selector": {"matchLabels": pod_labels(app)}}),
    ]
    for eid, port in ports.items():
        svc = obj("v1", "Service", dns_label(f"{app}-{eid.split(':', 1)[1]}"), "http", spec={
            "selector": pod_labels(app),
            "ports": [{"name": HTTP_PORT_NAME, "port": port, "targetPort": port, "protocol": "TCP"}]})
        svc["metadata"]["annotations"] = {f"{GROUP}/entry": eid}
        objects.append(svc)
    return objects


def mesh_secret_name(app: str) -> str:
    return f"{app}-mesh"


def mesh_secret(app_obj: dict) -> dict:
    """The app's mesh key: created once (a new key each reconcile would split the app), never
    applied over; only the app's pods get it (an env var from the Secret: the kubelet reads it)."""
    meta = app_obj["metadata"]
    owner = [{"apiVersion": API_VERSION, "kind": APP_KIND, "name": meta["name"], "uid": meta["uid"],
              "controller": True, "blockOwnerDeletion": True}]
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": mesh_secret_name(meta["name"]), "namespace": meta["namespace"],
                         "labels": labels(meta["name"], "mesh"), "ownerReferences": owner},
            "data": {MESH_KEY: base64.b64encode(secrets.token_urlsafe(48).encode()).decode()}}


def role_rules(app: str) -> list[dict]:
    """What the runtime's code uses, and only for this app (RBAC cannot filter by label, so the
    pods see their entries through the app's own maps, named here; see kube/projection.py): read
    the projected entries, report what was applied. No entry object, no Secret, nothing else."""
    entries = [projection.entries_map(app, i) for i in range(projection.SHARDS)]
    applied = [projection.applied_map(app, i) for i in range(projection.SHARDS)]
    return [
        # list and watch with resourceNames work for requests by name (fieldSelector metadata.name)
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": entries, "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": applied, "verbs": ["get", "patch"]},
        # the cluster (wippy/cluster): membership from the peers Service's EndpointSlices; leader,
        # singleton services, names and locks as Leases labelled with the app (their names are
        # made at run time, so RBAC cannot name them)
        {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"],
         "verbs": ["get", "list", "watch", "create", "update", "delete"]},
    ]


METRICS_PORT = 9464   # the runtime's /metrics, /livez and /readyz (Prometheus' registered port for exporters)

# the restricted Pod Security Standard; WippyApp's podSecurityContext/securityContext are merged over these
POD_SECURITY = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                      "capabilities": {"drop": ["ALL"]}}
TMP_VOLUME = "tmp"   # the runtime writes nothing outside /tmp; with a read-only root it is an emptyDir


def runtime_image(spec: WippyAppSpec) -> str:
    """The app's image, else the chart's (WIPPY_RUNTIME_IMAGE), else the one released with this operator."""
    return spec.image or os.environ.get("WIPPY_RUNTIME_IMAGE") or f"{RUNTIME_IMAGE}:{__version__}"


def _probe(path: str, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": "metrics"}, "periodSeconds": period, "timeoutSeconds": 3,
            "failureThreshold": failures}


def _deployment_spec(app: str, ns: str, spec: WippyAppSpec, ports: list[int]) -> dict:
    field = lambda path: {"valueFrom": {"fieldRef": {"fieldPath": path}}}  # noqa: E731
    env = [{"name": "WIPPY_NODE_ID", **field("metadata.name")},
           {"name": "POD_NAME", **field("metadata.name")},
           {"name": "POD_NAMESPACE", **field("metadata.namespace")},
           {"name": "POD_UID", **field("metadata.uid")},
           {"name": "POD_IP", **field("status.podIP")},
           {"name": "WIPPY_APP", "value": app},
           {"name": "WIPPY_MESH_PORT", "value": str(MESH_PORT)},
           {"name": "WIPPY_CLUSTER_KEY", "valueFrom": {"secretKeyRef": {"name": mesh_secret_name(app), "key": MESH_KEY}}}]
    temporal = spec.temporal.address if spec.temporal else None
    temporal = temporal or os.environ.get("WIPPY_TEMPORAL_ADDRESS")  # the chart's default for every app
    if temporal:
        env += [{"name": "TEMPORAL_ADDRESS", "value": temporal},
                {"name": "TEMPORAL_NAMESPACE", "value": spec.temporal.namespace if spec.temporal else "default"}]
    container = {
        "name": "runtime", "image": runtime_image(spec), "imagePullPolicy": spec.imagePullPolicy,
        "command": ["wippy"],
        "args": ["run", "--kubernetes", "--app", app, "--namespace", ns, "--metrics", f"0.0.0.0:{METRICS_PORT}"],
        "env": env + spec.env,
        "ports": [{"name": f"http-{p}", "containerPort": p, "protocol": "TCP"} for p in ports]
        + [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
           {"name": MESH_PORT_NAME, "containerPort": MESH_PORT, "protocol": "TCP"}],
        # /livez: the event loop answers; /readyz: the first complete sync of the app's entries is applied
        "livenessProbe": _probe("/livez", 10, 6),
        "readinessProbe": _probe("/readyz", 5, 3),
        "securityContext": {**CONTAINER_SECURITY, **(spec.securityContext or {})},
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}, *spec.volumeMounts],
    }
    if spec.resources:
        container["resources"] = spec.resources
    if spec.secretRefs:
        container["envFrom"] = [{"secretRef": {"name": s.name}} for s in spec.secretRefs]
    pod = {"serviceAccountName": service_account(app), "containers": [container],
           "securityContext": {**POD_SECURITY, **(spec.podSecurityContext or {})},
           "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}, *spec.volumes]}
    optional = {"nodeSelector": spec.nodeSelector, "tolerations": spec.tolerations, "affinity": spec.affinity,
                "topologySpreadConstraints": spec.topologySpreadConstraints,
                "priorityClassName": spec.priorityClassName,
                "imagePullSecrets": [{"name": s.name} for s in spec.imagePullSecrets]}
    pod.update({k: v for k, v in optional.items() if v})
    annotations = {**spec.podAnnotations, "prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)}
    return {
        "replicas": spec.replicas,
        "selector": {"matchLabels": pod_labels(app)},
        "template": {"metadata": {"labels": {**spec.podLabels, **pod_labels(app)}, "annotations": annotations},
                     "spec": pod},
    }
