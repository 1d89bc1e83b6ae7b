"""HTTP kinds: http.service, http.router, http.endpoint, http.static (reference §1.3, §2.10)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import ByteSize, ConfigDict, Field, field_validator, model_validator

from wippy.kinds.models.base import ConfigModel, KindModel, cel, given
from wippy.kinds.models.lifecycle import HttpServiceLifecycle
from wippy.kinds.models.types import Duration, EntryRef, Size
from wippy.registry.entry import resolve_ref

MIDDLEWARE = ("cors", "ratelimit", "compress", "real_ip", "metrics", "token_auth", "endpoint_firewall",
              "resource_firewall", "sendfile", "otel", "websocket_relay", "sse_relay")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


def parse_addr(addr: str) -> tuple[str, int]:
    """Go-style listen address: ':8080', 'host:8080', '[::1]:8080'; port 0 picks a free port."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"addr {addr!r} must be host:port or :port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)


def _check_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"path {value!r} must start with '/'")
    return value


def _check_middleware(names: list[str]) -> list[str]:
    for name in names:
        if name not in MIDDLEWARE:
            raise ValueError(f"unknown middleware {name!r} (known: {', '.join(MIDDLEWARE)})")
    return names


class Timeouts(ConfigModel):
    read: Duration = Field("30s", validate_default=True, description="Longest time to read a request's headers "
                           "(a connection without a complete first request by then is closed) and, from the request's "
                           "start, its body (a handler's body read fails after it). 0 = no limit.")
    write: Duration = Field("0s", validate_default=True, description="Longest time a handler may take to answer (0 = no limit).")
    idle: Duration = Field("75s", validate_default=True, description="How long an idle keep-alive connection stays open.")


class ServiceHost(ConfigModel):
    buffer_size: int = Field(1024, ge=1, description="Accepted for compatibility; requests queue in the event loop.")
    worker_count: int = Field(1, ge=1, description="Accepted for compatibility; handlers run as Lua tasks.")


class Tls(ConfigModel):
    model_config = ConfigDict(json_schema_extra=cel(
        ("!has(self.mode) || self.mode != 'auto'",
         "tls.mode 'auto' needs a network overlay driver; use mode: manual"),
        (f"!has(self.mode) || self.mode != 'manual' || ({given('cert')} && {given('key')})",
         "tls.mode 'manual' needs both cert and key (PEM)"),
        (f"{given('mode')} || !({given('cert')} || {given('key')} || {given('client_auth')} || {given('client_ca')})",
         "tls settings are given but tls.mode is empty (set mode: manual)"),
        (f"!{given('client_auth')} || {given('client_ca')}",
         "tls.client_auth needs client_ca (client certificates are verified against it)"),
        (f"!{given('client_ca')} || {given('client_auth')}", "tls.client_ca is given without client_auth")))
    mode: Literal["", "auto", "manual"] = Field("", description="'' serves plain HTTP; 'manual' serves HTTPS with cert and key.")
    cert: str | None = Field(None, description="PEM certificate chain (inline, file://, or ${env:NAME}).")
    key: str | None = Field(None, description="PEM private key (inline, file://, or ${env:NAME}).")
    client_auth: Literal["", "verify_if_given", "require_and_verify", "request", "require_any"] = Field(
        "", description="Client certificates: verify_if_given or require_and_verify (against client_ca).")
    client_ca: str | None = Field(None, description="PEM bundle of trusted client CAs.")

    @model_validator(mode="after")
    def _consistent(self) -> Tls:
        if self.mode == "auto":
            raise ValueError("tls.mode 'auto' needs a network overlay driver to provide the certificate; "
                             "network overlays are not supported here (use mode: manual)")
        if self.mode == "manual" and not (self.cert and self.key):
            raise ValueError("tls.mode 'manual' needs both cert and key (PEM)")
        if self.mode == "" and (self.cert or self.key or self.client_auth or self.client_ca):
            raise ValueError("tls settings are given but tls.mode is empty (set mode: manual)")
        if self.client_auth in ("request", "require_any"):
            raise ValueError(f"tls.client_auth '{self.client_auth}' (a client certificate taken without "
                             "verification) is not supported; use verify_if_given or require_and_verify with client_ca")
        if self.client_auth and not self.client_ca:
            raise ValueError(f"tls.client_auth '{self.client_auth}' needs client_ca (client certificates are "
                             "verified against it)")
        if self.client_ca and not self.client_auth:
            raise ValueError("tls.client_ca is given without client_auth")
        return self


class HttpService(KindModel):
    kind = "http.service"

    addr: str = Field(description="Listen address, e.g. ':8080' or '127.0.0.1:8080'. Changing it rebinds the listener.")
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Read, write and idle timeouts.")
    host: ServiceHost = Field(default_factory=ServiceHost, description="Request worker settings.")
    tls: Tls = Field(default_factory=Tls, description="TLS settings.")
    network: EntryRef | None = Field(None, description="Overlay network entry (not supported yet).")
    max_body: Size = Field(ByteSize(120 * 1024 * 1024), description="Largest request body accepted: a larger declared "
                                                          "length gets 413, a handler's read past it fails.")
    max_connections: int = Field(1024, ge=0, description="Connections open at once; a new one over it is closed "
                                 "at once (0 = no limit). Can change live.")
    lifecycle: HttpServiceLifecycle = Field(default_factory=HttpServiceLifecycle, description="Start and stop policy.")

    @field_validator("addr")
    @classmethod
    def _addr(cls, v: str) -> str:
        parse_addr(v)
        return v

    def references(self, entry_ns: str) -> set[str]:
        return self.lifecycle.references(entry_ns)


class HttpRouter(KindModel):
    kind = "http.router"
    meta_references: ClassVar[tuple[str, ...]] = ("server",)

    prefix: str = Field("/", description="Path prefix prepended to every endpoint of this router.")
    middleware: list[str] = Field(default_factory=list, description="Pre-match middleware, run before route matching.")
    options: dict[str, Any] = Field(default_factory=dict, description="Middleware options as dotted keys, e.g. 'cors.allow.origins'.")
    post_middleware: list[str] = Field(default_factory=list, description="Post-match middleware, run once the endpoint is known.")
    post_options: dict[str, Any] = Field(default_factory=dict, description="Options for post-match middleware (dotted keys).")

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _check_path(v)

    @field_validator("middleware", "post_middleware")
    @classmethod
    def _middleware(cls, v: list[str]) -> list[str]:
        return _check_middleware(v)


class HttpEndpoint(KindModel):
    kind = "http.endpoint"
    meta_references: ClassVar[tuple[str, ...]] = ("router",)

    method: str = Field(description="HTTP method: GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS.")
    path: str = Field(description="Path under the router prefix; '{name}' captures a segment, '{name...}' the rest.")
    func: EntryRef = Field(description="The function.lua entry called for each request.")

    @field_validator("method")
    @classmethod
    def _method(cls, v: str) -> str:
        if v.upper() not in METHODS:
            raise ValueError(f"unknown method {v!r} (known: {', '.join(METHODS)})")
        return v.upper()

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _check_path(v)

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.func, entry_ns)}


class StaticOptions(ConfigModel):
    spa: bool = Field(False, description="Serve the index file for paths that match no file (single-page apps).")
    index: str = Field("index.html", description="File served for a directory.")
    cache: str | None = Field(None, description="Cache-Control header value for served files.")


class HttpStatic(KindModel):
    kind = "http.static"
    model_config = ConfigDict(json_schema_extra=cel(
        ("has(self.fs) != has(self.directory)", "give exactly one of 'fs' (an fs.directory entry) or 'directory'")))
    meta_references: ClassVar[tuple[str, ...]] = ("server",)

    path: str = Field("/", description="URL path the files are mounted at.")
    fs: EntryRef | None = Field(None, description="fs.directory entry whose 'directory' is served.")
    directory: str | None = Field(None, description="Local directory served when no fs entry is given.")
    static_options: StaticOptions = Field(default_factory=StaticOptions, description="Index, SPA fallback and caching.")
    middleware: list[str] = Field(default_factory=list, description="Middleware run before serving files.")
    options: dict[str, Any] = Field(default_factory=dict, description="Middleware options (dotted keys).")

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _check_path(v)

    @field_validator("middleware")
    @classmethod
    def _middleware(cls, v: list[str]) -> list[str]:
        return _check_middleware(v)

    @model_validator(mode="after")
    def _source(self) -> HttpStatic:
        if (self.fs is None) == (self.directory is None):
            raise ValueError("give exactly one of 'fs' (an fs.directory entry) or 'directory'")
        return self

    def references(self, entry_ns: str) -> set[str]:
        return {resolve_ref(self.fs, entry_ns)} if self.fs else set()
