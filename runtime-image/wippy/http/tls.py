"""The ssl context of an http.service from its `tls` settings (PEM text, not file names)."""
from __future__ import annotations

import ssl

from ..pem import load_cert_chain


class TlsError(ValueError):
    """Certificate or key that cannot be used; the message says which and why."""


def server_context(tls) -> ssl.SSLContext | None:
    """None for plain HTTP (mode ''); otherwise a TLS server context holding cert and key."""
    if tls.mode != "manual":
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        load_cert_chain(ctx, tls.cert, tls.key)
    except ValueError as e:
        raise TlsError(f"tls: {e}") from None
    if tls.client_auth:
        try:
            ctx.load_verify_locations(cadata=tls.client_ca)
        except ssl.SSLError as e:
            raise TlsError(f"tls: client_ca cannot be used ({e.reason or e})") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.client_auth == "require_and_verify" else ssl.CERT_OPTIONAL
    return ctx
