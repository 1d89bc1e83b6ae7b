"""Python side of `http_client`: outbound HTTP on aiohttp. Every call parks only the calling
Lua task; the response comes back as a table (reference §2.10)."""
from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
import ssl as ssllib
import tempfile
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import aiohttp

from ..durations import parse_duration
from yarl import URL

from ..engine.errors import WippyError, INTERNAL, INVALID, PERMISSION_DENIED

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_BODY = 120 * 1024 * 1024
OPTIONS = {"headers", "body", "query", "form", "files", "cookies", "auth", "timeout", "max_response_body",
           "unix_socket", "tls", "body_latin1", "stream", "overlay_network", "private_ok"}


def _text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _opts(raw: Any) -> dict:
    if raw in (None, []):
        return {}
    if not isinstance(raw, dict):
        raise WippyError(INVALID, "options must be a table")
    unknown = sorted(set(raw) - OPTIONS)
    if unknown:
        raise WippyError(INVALID, f"unknown option(s): {', '.join(map(str, unknown))}")
    if raw.get("overlay_network"):
        # an overlay is a network.* entry (socks5, tailscale, i2p): kinds this runtime does not load
        raise WippyError(INVALID, f"overlay_network {raw['overlay_network']!r}: network overlays are not "
                                  "supported (network.socks5/tailscale/i2p entries are not implemented; "
                                  "the request would go out directly)")
    return raw


def _payload(o: dict) -> Any:
    if o.get("files"):
        form = aiohttp.FormData()
        for k, v in (o.get("form") or {}).items():
            form.add_field(_text(k), _text(v))
        for f in o["files"]:
            if not isinstance(f, dict) or "content" not in f:
                raise WippyError(INVALID, "each file needs {name, filename, content[, content_type]}")
            form.add_field(_text(f.get("name") or f.get("field") or "file"), _bytes(f["content"], False),
                           filename=_text(f.get("filename") or "file"),
                           content_type=_text(f.get("content_type") or "application/octet-stream"))
        return form
    if o.get("form") is not None:
        return {_text(k): _text(v) for k, v in (o["form"] or {}).items()}
    body = o.get("body")
    return None if body is None else _bytes(body, o.get("body_latin1"))


def _is_private(ip: str) -> bool:
    """Loopback, RFC 1918/4193, link-local and unspecified addresses (the docs' private ranges)."""
    a = ipaddress.ip_address(ip.split("%", 1)[0])
    return a.is_private or a.is_loopback or a.is_link_local or a.is_unspecified


async def private_addresses(url: Any) -> list[str]:
    """The private addresses a URL's host is (a literal) or resolves to, for the caller's
    http_client.private_ip check; [] when it cannot be resolved (the request then fails)."""
    try:
        u = URL(url if isinstance(url, str) else "")
    except ValueError:
        return []
    host = u.raw_host
    if not host:
        return []
    try:
        return [host] if _is_private(host) else []
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, u.port or 0, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(i[4][0]) for i in infos if _is_private(str(i[4][0]))})


class PrivateAddress(OSError):
    pass


class CheckedResolver(aiohttp.ThreadedResolver):
    """Resolves as usual, then drops private addresses the caller was not allowed: the check
    holds for what is actually connected to (a redirect, a DNS answer that changed)."""

    def __init__(self, allowed: set[str]):
        super().__init__()
        self.allowed = allowed

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list:
        out = [r for r in await super().resolve(host, port, family)
               if not _is_private(r["host"]) or r["host"] in self.allowed]
        if not out:
            raise PrivateAddress(f"not allowed: private IP of {host}")
        return out


def _allowed(o: dict) -> set[str]:
    allowed = o.get("private_ok") or []
    return {str(a) for a in allowed} if isinstance(allowed, list) else set()


def _connector(o: dict) -> aiohttp.BaseConnector:
    if o.get("unix_socket"):
        return aiohttp.UnixConnector(path=o["unix_socket"])
    return aiohttp.TCPConnector(resolver=CheckedResolver(_allowed(o)))


def _redirects_checked(o: dict) -> list[aiohttp.TraceConfig]:
    """The connector does not resolve a literal IP: a redirect to one is checked here."""
    allowed = _allowed(o)

    async def on_redirect(session, ctx, params) -> None:
        location = params.response.headers.get("Location")
        if not location:
            return
        host = params.response.url.join(URL(location)).raw_host or ""
        try:
            private = _is_private(host)
        except ValueError:
            return          # a name: the resolver checks what it resolves to
        if private and host not in allowed:
            raise WippyError(PERMISSION_DENIED, f"not allowed: private IP {host} (redirected to)")

    tc = aiohttp.TraceConfig()
    tc.on_request_redirect.append(on_redirect)
    return [tc]


def _failure(what: str, e: BaseException) -> WippyError:
    if isinstance(e, aiohttp.ClientConnectorError) and isinstance(e.os_error, PrivateAddress):
        return WippyError(PERMISSION_DENIED, f"{what}: {e.os_error}")
    return WippyError(INTERNAL, f"{what}: {e}", True)


TLS_OPTIONS = {"cert", "key", "ca", "server_name", "insecure_skip_verify"}


def _ssl(tls: Any) -> Any:
    """The request's TLS: True (default checks), False (no checks) or a context for a CA and/or a
    client certificate, all given as PEM."""
    if not tls:
        return True
    if not isinstance(tls, dict):
        raise WippyError(INVALID, "tls must be a table")
    unknown = sorted(set(map(str, tls)) - TLS_OPTIONS)
    if unknown:
        raise WippyError(INVALID, f"unknown tls option(s): {', '.join(unknown)}")
    cert, key, ca = tls.get("cert"), tls.get("key"), tls.get("ca")
    if bool(cert) != bool(key):
        raise WippyError(INVALID, "tls: cert and key must be given together")
    insecure = bool(tls.get("insecure_skip_verify"))
    if not (cert or ca):
        return not insecure
    try:
        ctx = ssllib.create_default_context(cadata=_text(ca) if ca else None)
        if insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssllib.CERT_NONE
        if cert:
            # the ssl module loads a certificate chain from files only: a private folder, removed at once
            with tempfile.TemporaryDirectory() as d:
                cf, kf = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
                for path, pem in ((cf, cert), (kf, key)):
                    with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
                        f.write(_text(pem))
                ctx.load_cert_chain(cf, kf)
    except (ssllib.SSLError, ValueError) as e:
        raise WippyError(INVALID, f"tls: {e}") from None
    return ctx


def _bytes(v: Any, latin1: Any) -> bytes:
    if isinstance(v, bytes):
        return v
    return _text(v).encode("latin-1" if latin1 else "utf-8")


_closing: set = set()


class BodyStream:
    """The open response of a `stream = true` request: read chunk by chunk, closed once."""

    def __init__(self, session: aiohttp.ClientSession, resp: aiohttp.ClientResponse, limit: int, what: str):
        self.session, self.resp, self.limit, self.what, self.seen = session, resp, limit, what, 0

    async def read(self, n: int) -> bytes | None:
        try:
            data = await self.resp.content.read(n)
        except asyncio.TimeoutError:
            raise WippyError(INTERNAL, f"{self.what}: no data within the timeout", True) from None
        except aiohttp.ClientError as e:
            raise WippyError(INTERNAL, f"{self.what}: {e}", True) from None
        self.seen += len(data)
        if self.seen > self.limit:
            raise WippyError(INVALID, f"response body larger than max_response_body ({self.limit} bytes)")
        return data or None

    def close(self) -> None:
        """Synchronous (it also runs when the owning Lua process exits): the session's own
        close only waits for its connector, so it finishes as a task."""
        self.resp.release()
        task = asyncio.get_running_loop().create_task(self.session.close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)


async def request(method: Any, url: Any, raw_opts: Any = None) -> dict:
    if not isinstance(method, str) or not method:
        raise WippyError(INVALID, "method must be a non-empty string")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise WippyError(INVALID, f"invalid URL {url!r}: want http:// or https://")
    o = _opts(raw_opts)
    try:
        timeout = parse_duration(o["timeout"]) if o.get("timeout") is not None else DEFAULT_TIMEOUT
    except ValueError as e:
        raise WippyError(INVALID, f"timeout: {e}") from None
    limit = int(o.get("max_response_body") or DEFAULT_MAX_BODY)
    headers = {_text(k): _text(v) for k, v in (o.get("headers") or {}).items()}
    query = {_text(k): _text(v) for k, v in (o.get("query") or {}).items()} or None
    auth = o.get("auth")
    if auth:
        creds = f"{_text(auth.get('user', ''))}:{_text(auth.get('pass', ''))}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(creds).decode("ascii")
    ssl = _ssl(o.get("tls"))
    server_name = (o.get("tls") or {}).get("server_name") or None
    connector = _connector(o)
    cookies = {_text(k): _text(v) for k, v in (o.get("cookies") or {}).items()} or None
    if o.get("stream"):
        return await _open_stream(method, url, o, timeout, limit, connector, cookies, query, headers, ssl, server_name)
    try:
        async with aiohttp.ClientSession(connector=connector, cookies=cookies, trace_configs=_redirects_checked(o),
                                         timeout=aiohttp.ClientTimeout(total=timeout or None)) as session:
            async with session.request(method.upper(), url, params=query, headers=headers, data=_payload(o),
                                       ssl=ssl, server_hostname=server_name, allow_redirects=True) as resp:
                if resp.content_length is not None and resp.content_length > limit:
                    raise WippyError(INVALID, f"response body larger than max_response_body ({limit} bytes)")
                buf = bytearray()
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    if len(buf) > limit:
                        raise WippyError(INVALID, f"response body larger than max_response_body ({limit} bytes)")
                return {
                    "status_code": resp.status,
                    "body": bytes(buf),
                    "body_size": len(buf),
                    "headers": {k: ", ".join(resp.headers.getall(k)) for k in resp.headers.keys()},
                    "cookies": {k: m.value for k, m in resp.cookies.items()},
                    "url": str(resp.url),
                }
    except asyncio.TimeoutError:
        raise WippyError(INTERNAL, f"{method.upper()} {url}: no response within {timeout:g}s", True) from None
    except aiohttp.InvalidURL as e:
        raise WippyError(INVALID, f"invalid URL {url!r}: {e}") from None
    except aiohttp.ClientError as e:
        raise _failure(f"{method.upper()} {url}", e) from None
    except OSError as e:
        raise WippyError(INTERNAL, f"{method.upper()} {url}: {e.strerror or e}", True) from None


def _head(resp: aiohttp.ClientResponse) -> dict:
    return {"status_code": resp.status,
            "headers": {k: ", ".join(resp.headers.getall(k)) for k in resp.headers.keys()},
            "cookies": {k: m.value for k, m in resp.cookies.items()}, "url": str(resp.url)}


async def _open_stream(method, url, o, timeout, limit, connector, cookies, query, headers, ssl, server_name) -> dict:
    """stream = true: the timeout bounds the wait for the headers and then each read."""
    what = f"{method.upper()} {url}"
    session = aiohttp.ClientSession(connector=connector, cookies=cookies, trace_configs=_redirects_checked(o),
                                    timeout=aiohttp.ClientTimeout(connect=timeout or None, sock_read=timeout or None))
    try:
        async with asyncio.timeout(timeout or None):
            resp = await session.request(method.upper(), url, params=query, headers=headers, data=_payload(o),
                                         ssl=ssl, server_hostname=server_name, allow_redirects=True)
    except BaseException as e:
        await session.close()
        if isinstance(e, asyncio.TimeoutError):
            raise WippyError(INTERNAL, f"{what}: no response within {timeout:g}s", True) from None
        if isinstance(e, aiohttp.InvalidURL):
            raise WippyError(INVALID, f"invalid URL {url!r}: {e}") from None
        if isinstance(e, (aiohttp.ClientError, OSError)):
            raise _failure(what, e) from None
        raise
    if resp.content_length is not None and resp.content_length > limit:
        BodyStream(session, resp, limit, what).close()
        raise WippyError(INVALID, f"response body larger than max_response_body ({limit} bytes)")
    return {**_head(resp), "body_size": -1, "stream": BodyStream(session, resp, limit, what)}


def install(engine):
    streams: dict[int, BodyStream] = {}
    seq = iter(range(1, 1 << 62))

    async def call(method, url, opts):
        r = await request(method, url, engine.py(opts) if opts is not None else None)
        if "stream" in r:
            h = next(seq)
            streams[h] = r["stream"]
            r["stream"] = h
        return r

    async def sread(h, n):
        s = streams.get(h)
        if s is None:
            raise WippyError(INVALID, "the response stream is closed")
        return await s.read(n)

    def sclose(h):
        s = streams.pop(h, None)
        if s is not None:
            s.close()
        return True

    async def batch(items):
        reqs = engine.py(items) or []
        results = await asyncio.gather(*(request(r.get("method", "GET"), r.get("url"), r.get("options"))
                                         for r in reqs), return_exceptions=True)
        responses = [None if isinstance(r, BaseException) else r for r in results]
        errors = [(r if isinstance(r, WippyError) else WippyError(INTERNAL, str(r)))
                  if isinstance(r, BaseException) else None for r in results]
        return responses, (errors if any(e is not None for e in errors) else None)   # nil: all succeeded

    return {
        "request": call, "sread": sread, "sclose": sclose, "private_addresses": private_addresses,
        "request_batch": batch,
        "encode_uri": lambda s: quote_plus(_text(s)),   # as Go's url.QueryEscape: space is +
        "decode_uri": lambda s: unquote_plus(_text(s)),
    }
