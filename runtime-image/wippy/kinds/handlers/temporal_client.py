"""temporal.client: a connection to Temporal (or the embedded dev server, started on first use)."""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...engine.errors import WippyError
from ...registry import Op, Rejected

log = logging.getLogger("wippy.temporal")

if TYPE_CHECKING:
    from ...runtime import Runtime


class TemporalClientHandler:
    def __init__(self, runtime: "Runtime"):
        self.runtime = runtime

    async def apply(self, op: Op) -> None:
        from ...temporal.host import TemporalClient
        node = self.runtime.node
        cid = op.entry.id
        old = node.hosts.get(cid)
        if op.action == "delete":
            if isinstance(old, TemporalClient):
                node.remove_host(cid)
                old.close()
            return
        model = self.runtime.decode(op.entry)
        address = model.address or self.runtime.env_lookup("TEMPORAL_ADDRESS")
        options = connect_options(model, self.runtime.app_dir)
        if isinstance(old, TemporalClient) and (old.address, old.namespace, old.connect_options) == (
                address, model.namespace, options):
            return
        data_dir = self.runtime.app_dir / ".wippy" if self.runtime.app_dir is not None else None
        client = TemporalClient(cid, address, model.namespace, data_dir, model.connect_timeout, options)
        if model.lifecycle.auto_start:
            try:
                await asyncio.wait_for(client.get(), model.lifecycle.start_timeout)
            except (asyncio.TimeoutError, WippyError) as e:
                problem = getattr(e, "message", None) or f"not connected within start_timeout {model.lifecycle.start_timeout:g}s"
                if model.lifecycle.startup != "optional":
                    client.close()
                    raise Rejected(f"temporal.client: could not start: {problem}") from None
                log.warning("%s: %s; it connects on first use (startup: optional)", cid, problem)
        # registered under its id so that it is closed (dev server stopped) with the runtime
        node.add_host(cid, client)
        if old is not None:
            old.close()


def _read(path: str, app_dir: Path | None) -> bytes:
    p = Path(path).expanduser()
    if not p.is_absolute() and app_dir is not None:
        p = app_dir / p
    try:
        return p.read_bytes()
    except OSError as e:
        raise Rejected(f"temporal.client: cannot read {p}: {e.strerror or e}") from None


def connect_options(model, app_dir: Path | None) -> dict:
    """Client.connect arguments for the entry's auth, tls and keep-alive settings."""
    from temporalio.client import KeepAliveConfig
    from temporalio.service import TLSConfig
    auth, tls = model.auth, model.tls
    options: dict = {"keep_alive_config": KeepAliveConfig(interval_millis=int(model.keep_alive_time * 1000),
                                                          timeout_millis=int(model.keep_alive_timeout * 1000))}
    if auth.type == "api_key":
        options["api_key"] = auth.api_key or _read(auth.api_key_file, app_dir).decode().strip()
    if tls.enabled:
        cfg: dict[str, Any] = {}
        if tls.ca_pem or tls.ca_file:
            cfg["server_root_ca_cert"] = tls.ca_pem.encode() if tls.ca_pem else _read(tls.ca_file, app_dir)
        if tls.server_name:
            cfg["domain"] = tls.server_name
        if auth.type == "mtls":
            cfg["client_cert"] = auth.cert_pem.encode() if auth.cert_pem else _read(auth.cert_file, app_dir)
            cfg["client_private_key"] = auth.key_pem.encode() if auth.key_pem else _read(auth.key_file, app_dir)
        options["tls"] = TLSConfig(**cfg) if cfg else True
    else:
        options["tls"] = False    # the SDK would turn TLS on by itself for an API key
    return options
