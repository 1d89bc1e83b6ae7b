"""The ssl context of an http.service from its `tls` settings (PEM text, not file names)."""
from __future__ import annotations

import os
import ssl
import tempfile


class TlsError(ValueError):
    """Certificate or key that cannot be used; the message says which and why."""


def server_context(tls) -> ssl.SSLContext | None:
    """None for plain HTTP (mode ''); otherwise a TLS server context holding cert and key."""
    if tls.mode != "manual":
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # load_cert_chain takes file names only: the PEM passes through a private temporary folder
    with tempfile.TemporaryDirectory(prefix="wippy-tls-") as tmp:
        cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, text in ((cert, tls.cert), (key, tls.key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(text)
        try:
            ctx.load_cert_chain(cert, key)
        except ssl.SSLError as e:
            raise TlsError(f"tls: cert and key cannot be used ({e.reason or e})") from None
    if tls.client_auth:
        try:
            ctx.load_verify_locations(cadata=tls.client_ca)
        except ssl.SSLError as e:
            raise TlsError(f"tls: client_ca cannot be used ({e.reason or e})") from None
        ctx.verify_mode = ssl.CERT_REQUIRED if tls.client_auth == "require_and_verify" else ssl.CERT_OPTIONAL
    return ctx
