"""Python side of the `hash` module: hashlib digests and HMACs."""
from __future__ import annotations

import hashlib
import hmac as _hmac

from .binary import take, view

_ALGOS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def digest(algo: str, ref, n: int, raw: bool):
    d = _ALGOS[algo](view(ref, n)).digest()
    return d if raw else d.hex()


def hmac(algo: str, ref, n: int, kref, kn: int, raw: bool):
    d = _hmac.new(take(kref, kn), view(ref, n), _ALGOS[algo]).digest()
    return d if raw else d.hex()


def install(engine):
    return {"digest": digest, "hmac": hmac}
