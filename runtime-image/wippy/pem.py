"""Certificates and keys given as PEM text (entries carry the text, not file names)."""
from __future__ import annotations

import os
import ssl
import tempfile


def load_cert_chain(ctx: ssl.SSLContext, cert: str, key: str) -> None:
    """`ctx.load_cert_chain` from PEM text; ValueError saying why when they cannot be used."""
    # load_cert_chain takes file names only: the PEM passes through a private temporary folder
    with tempfile.TemporaryDirectory(prefix="wippy-tls-") as tmp:
        cert_path, key_path = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        for path, text in ((cert_path, cert), (key_path, key)):
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as f:
                f.write(text)
        try:
            ctx.load_cert_chain(cert_path, key_path)
        except ssl.SSLError as e:
            raise ValueError(f"cert and key cannot be used ({e.reason or e})") from None
