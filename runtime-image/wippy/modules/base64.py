"""Python side of the `base64` module (binascii does the work)."""
from __future__ import annotations

import binascii
import re

from ..engine.errors import WippyError, INVALID
from .binary import take

_ALPHABET = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_BAD = re.compile(r"[^A-Za-z0-9+/=]")


def encode(ref, n: int) -> bytes:
    return binascii.b2a_base64(take(ref, n), newline=False)


def decode(s: str) -> bytes:
    # like Go's StdEncoding: CR and LF are ignored, padding is required, nothing else is allowed
    text = s.replace("\r", "").replace("\n", "")
    if not _ALPHABET.fullmatch(text) or len(text) % 4:
        m = _BAD.search(text)
        if m is not None:
            pos = m.start()
        elif len(text) % 4:
            pos = len(text) - len(text) % 4
        else:
            pos = text.find("=")
        raise WippyError(INVALID, f"decode failed: illegal base64 data at input byte {pos}", False)
    try:
        return binascii.a2b_base64(text.encode("ascii"))
    except binascii.Error as e:  # pragma: no cover - the checks above catch everything
        raise WippyError(INVALID, f"decode failed: {e}", False) from None


def install(engine):
    return {"encode": encode, "decode": decode}
