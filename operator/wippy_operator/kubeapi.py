"""The few synchronous API calls the operator makes (kopf runs sync handlers in threads):
server-side apply of owned objects, status patches, listing, deleting."""
from __future__ import annotations

import json
import time
from typing import Any

import kubernetes

FIELD_MANAGER = "wippy"  # the CLI writes as `wippy` too: one manager for what wippy owns
# seconds a bearer token is reused before the client's configuration is asked again (which reloads
# the kubeconfig or re-reads a rotated in-cluster token: per request, a twentieth of the operator's CPU)
AUTH_FOR = 30.0

# apiVersion/kind -> URL collection segment (namespaced resources only)
_PATHS = {
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("v1", "Pod"): "/api/v1/namespaces/{ns}/pods",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("rbac.authorization.k8s.io/v1", "Role"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    ("policy/v1", "PodDisruptionBudget"): "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
}


class Api:
    def __init__(self, client: kubernetes.client.ApiClient):
        self.client = client
        self.apps = ControllerRevisions(self)
        self._auth: dict[str, str] = {}
        self._auth_at = -AUTH_FOR

    def _auth_header(self) -> dict[str, str]:
        now = time.monotonic()
        if now - self._auth_at >= AUTH_FOR:
            setting = self.client.configuration.auth_settings().get("BearerToken") or {}
            self._auth = {setting["key"]: setting["value"]} if setting.get("value") else {}
            self._auth_at = now
        return self._auth

    def _call(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
              query: dict | None = None) -> dict:
        data = self.request(method, path, body, content_type, query).data
        return json.loads(data) if data else {}

    def request(self, method: str, path: str, body: Any = None, content_type: str = "application/json",
                query: dict | None = None):
        """The response, read (its ``data``); ApiException for an error status."""
        _, url, headers, data, _ = self.client.param_serialize(
            method, path, query_params=list((query or {}).items()),
            header_params={"Content-Type": content_type, "Accept": "application/json", **self._auth_header()},
            body=body, auth_settings=[])
        resp = self.client.call_api(method, url, header_params=headers, body=data)
        resp.read()
        if resp.status >= 400:
            raise kubernetes.client.ApiException(status=resp.status, reason=resp.reason, http_resp=resp)
        return resp

    def apply(self, obj: dict) -> dict:
        """Server-side apply: creates or updates, leaving fields others own (e.g. clusterIP) alone."""
        meta = obj["metadata"]
        path = _PATHS[(obj["apiVersion"], obj["kind"])].format(ns=meta["namespace"]) + "/" + meta["name"]
        return self._call("PATCH", path, obj, "application/apply-patch+yaml",
                          {"fieldManager": FIELD_MANAGER, "force": "true"})

    def get(self, path: str) -> dict:
        return self._call("GET", path)

    def create_map(self, obj: dict, exist_ok: bool = False) -> dict:
        try:
            return self._call("POST", _PATHS[("v1", "ConfigMap")].format(ns=obj["metadata"]["namespace"]), obj,
                              query={"fieldManager": FIELD_MANAGER})
        except kubernetes.client.ApiException as e:
            if e.status == 409 and exist_ok:
                return {}
            raise

    def create_if_absent(self, obj: dict) -> None:
        """Create unless an object of that name exists (which is left as it is)."""
        path = _PATHS[(obj["apiVersion"], obj["kind"])].format(ns=obj["metadata"]["namespace"])
        try:
            self._call("POST", path, obj, query={"fieldManager": FIELD_MANAGER})
        except kubernetes.client.ApiException as e:
            if e.status != 409:
                raise

    def patch_map(self, namespace: str, name: str, data: dict) -> dict:
        """Merge-patch some keys of a ConfigMap's data (None deletes a key)."""
        path = _PATHS[("v1", "ConfigMap")].format(ns=namespace) + "/" + name
        return self._call("PATCH", path, {"data": data}, "application/merge-patch+json",
                          {"fieldManager": FIELD_MANAGER})

    def list(self, api_version: str, kind: str, namespace: str, selector: str) -> list[dict]:
        path = _PATHS[(api_version, kind)].format(ns=namespace)
        return self._call("GET", path, query={"labelSelector": selector})["items"]

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        try:
            self._call("DELETE", _PATHS[(api_version, kind)].format(ns=namespace) + "/" + name)
        except kubernetes.client.ApiException as e:
            if e.status != 404:
                raise

    def finalize(self, path: str, finalizer: str, present: bool, uid: str | None = None) -> bool:
        """Add (present) or remove a finalizer of the object at `path` (of that uid, when given),
        by a merge patch of its list at the resourceVersion read (another writer's change between
        is read again). False when the object is gone (or is another one by now)."""
        for _ in range(10):
            try:
                obj = self.get(path)
            except kubernetes.client.ApiException as e:
                if e.status == 404:
                    return False
                raise
            meta = obj["metadata"]
            if uid is not None and meta.get("uid") != uid:
                return False
            have = list(meta.get("finalizers") or [])
            if (finalizer in have) == present:
                return True
            want = have + [finalizer] if present else [f for f in have if f != finalizer]
            try:
                self._call("PATCH", path, {"metadata": {"finalizers": want, "resourceVersion": meta["resourceVersion"]}},
                           "application/merge-patch+json", {"fieldManager": FIELD_MANAGER})
                return True
            except kubernetes.client.ApiException as e:
                if e.status == 404 or (e.status == 422 and present):   # 422: being deleted meanwhile
                    return False
                if e.status != 409:
                    raise
        raise RuntimeError(f"{path}: its finalizers kept changing while {finalizer} was being "
                           f"{'added' if present else 'removed'}")

    def patch_status(self, api_version: str, plural: str, namespace: str, name: str, status: dict,
                     resource_version: str | None = None) -> dict:
        """Merge-patch the status; with `resource_version`, only if the object has not changed
        since (else 409): a decision made from an older view must not overwrite a newer one."""
        path = f"/apis/{api_version}/namespaces/{namespace}/{plural}/{name}/status"
        body: dict = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._call("PATCH", path, body, "application/merge-patch+json", {"fieldManager": FIELD_MANAGER})


class ControllerRevisions:
    """The ControllerRevision calls of kubernetes.client.AppsV1Api that revisions.History makes,
    by the same names, as plain requests: the generated client checks every call's arguments
    with pydantic (an entry's first revision costs the operator twice the CPU through it) and
    loads every apps/v1 model. Each answers as with ``_preload_content=False``: read ``.data``."""

    _BASE = "/apis/apps/v1/namespaces/{ns}/controllerrevisions"

    def __init__(self, api: Api):
        self._api = api

    def list_namespaced_controller_revision(self, namespace: str, label_selector: str, **_):
        return self._api.request("GET", self._BASE.format(ns=namespace), query={"labelSelector": label_selector})

    def create_namespaced_controller_revision(self, namespace: str, body: dict, field_manager: str = FIELD_MANAGER,
                                              **_):
        return self._api.request("POST", self._BASE.format(ns=namespace), body,
                                 query={"fieldManager": field_manager})

    def read_namespaced_controller_revision(self, name: str, namespace: str, **_):
        return self._api.request("GET", self._BASE.format(ns=namespace) + "/" + name)

    def delete_namespaced_controller_revision(self, name: str, namespace: str, **_):
        return self._api.request("DELETE", self._BASE.format(ns=namespace) + "/" + name)
