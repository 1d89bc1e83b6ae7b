"""A small asyncio client for the few Kubernetes API calls a runtime pod makes.

aiohttp against the API server, with credentials read by the `kubernetes` package's loaders
(in-cluster service account, else the kubeconfig). A watch is a plain streaming GET, so it
cancels cleanly and a silent connection ends after ``read_timeout`` instead of hanging.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

SA_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class KubeApi:
    def __init__(self, configuration: Any, *, read_timeout: float = 90.0):
        """``configuration``: a `kubernetes.client.Configuration` with host and credentials."""
        self._cfg = configuration
        self.host = configuration.host.rstrip("/")
        self._read_timeout = read_timeout
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_environment(cls, **kw: Any) -> tuple[KubeApi, str | None]:
        """Credentials as a pod (or kubectl) finds them, and the default namespace they imply."""
        from kubernetes import client, config

        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)
            namespace = SA_NAMESPACE.read_text().strip() if SA_NAMESPACE.is_file() else None
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)
            _, active = config.list_kube_config_contexts()
            namespace = (active or {}).get("context", {}).get("namespace")
        return cls(cfg, **kw), namespace

    def _ssl(self) -> ssl.SSLContext | bool:
        cfg = self._cfg
        if not self.host.startswith("https"):
            return False
        ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
        if cfg.cert_file:
            ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
        if not cfg.verify_ssl:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        # in-cluster tokens rotate: the loader's refresh hook rereads the file
        token = self._cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        if token:
            headers["Authorization"] = token
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._ssl(), limit=0),   # a watch per entry kind holds a connection: no cap below the kinds
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=self._read_timeout),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, *, params: dict | None = None,
                       body: Any = None, content_type: str | None = None) -> dict:
        data = json.dumps(body) if body is not None else None
        async with self._http().request(method, self.host + path, params=params, data=data,
                                        headers=self._headers(content_type)) as resp:
            text = await resp.text()
            if resp.status >= 400:
                raise ApiError(resp.status, _message(text))
            return json.loads(text) if text else {}

    async def get(self, path: str, **params: Any) -> dict:
        return await self._request("GET", path, params=_params(params))

    async def create(self, path: str, body: dict, field_manager: str = "wippy") -> dict:
        return await self._request("POST", path, params={"fieldManager": field_manager}, body=body,
                                   content_type="application/json")

    async def replace(self, path: str, body: dict, field_manager: str = "wippy") -> dict:
        """PUT: with metadata.resourceVersion set, only if the object has not changed since (else 409)."""
        return await self._request("PUT", path, params={"fieldManager": field_manager}, body=body,
                                   content_type="application/json")

    async def delete(self, path: str, preconditions: dict | None = None) -> dict:
        """With `preconditions` ({uid, resourceVersion}), only that version of the object (else 409)."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "preconditions": preconditions} if preconditions else None
        return await self._request("DELETE", path, body=body, content_type="application/json" if body else None)

    async def merge_patch(self, path: str, body: dict, field_manager: str = "wippy") -> dict:
        return await self._request("PATCH", path, params={"fieldManager": field_manager}, body=body,
                                   content_type="application/merge-patch+json")

    async def watch(self, path: str, **params: Any) -> AsyncIterator[dict]:
        """Watch events (dicts with ``type`` and ``object``) until the server ends the stream."""
        params = _params({**params, "watch": "true"})
        async with self._http().get(self.host + path, params=params, headers=self._headers()) as resp:
            if resp.status >= 400:
                raise ApiError(resp.status, _message(await resp.text()))
            buf = b""
            # read raw chunks: a Lua source may make one event longer than aiohttp's line limit
            async for chunk in resp.content.iter_any():
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)


async def list_then_watch(api: KubeApi, path: str, label_selector: str, *,
                          on_list: Callable[[list[dict]], Awaitable[None]],
                          on_event: Callable[[str, dict], None], log: logging.Logger, what: str) -> None:
    """Keep a view of the objects at `path`: `on_list` gets a full listing, then `on_event` each
    ADDED, MODIFIED or DELETED event watched from that listing's version. On any error (an expired
    version included) it waits, backing off up to 5 s, and lists again. Runs until cancelled."""
    delay = 0.2
    while True:
        try:
            listed = await api.get(path, labelSelector=label_selector)
            await on_list(listed.get("items") or [])
            rv = listed["metadata"].get("resourceVersion")
            delay = 0.2
            while True:
                async for ev in api.watch(path, labelSelector=label_selector, resourceVersion=rv,
                                          allowWatchBookmarks=True, timeoutSeconds=300):
                    obj = ev.get("object") or {}
                    if ev.get("type") == "ERROR":
                        raise ApiError(obj.get("code") or 500, obj.get("message") or "watch error")
                    rv = (obj.get("metadata") or {}).get("resourceVersion") or rv
                    if ev["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        on_event(ev["type"], obj)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("%s: %s; listing again", what, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def _params(params: dict) -> dict:
    return {k: ("true" if v is True else "false" if v is False else str(v))
            for k, v in params.items() if v is not None}


def _message(text: str) -> str:
    try:
        return json.loads(text).get("message") or text
    except (ValueError, AttributeError):
        return text[:500]


def pod_namespace(explicit: str | None, config_namespace: str | None) -> str:
    return explicit or os.environ.get("POD_NAMESPACE") or config_namespace or "default"
