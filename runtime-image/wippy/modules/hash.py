"""Python side of the `hash` module: hashlib digests and HMACs."""
from __future__ import annotations

import hashlib
import hmac as _hmac

_ALGOS = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}


def _bytes(s: str, latin1: bool) -> bytes:
    return s.encode("latin-1" if latin1 else "utf-8")


def digest(algo: str, data: str, latin1: bool, raw: bool):
    d = _ALGOS[algo](_bytes(data, latin1)).digest()
    return d if raw else d.hex()


def hmac(algo: str, data: str, data_latin1: bool, key: str, key_latin1: bool, raw: bool):
    d = _hmac.new(_bytes(key, key_latin1), _bytes(data, data_latin1), _ALGOS[algo]).digest()
    return d if raw else d.hex()


def install(engine):
    return {"digest": digest, "hmac": hmac}
