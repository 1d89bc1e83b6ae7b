"""Python side of the `uuid` module: generation (v1, v3, v4, v5, v7)."""
from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid as _uuid

_lock = threading.Lock()
_last_v7 = 0
# v1 node: random, with the multicast bit set (RFC 4122 §4.5), chosen once per process;
# uuid.getnode() may spawn subprocesses to find a MAC address.
_NODE = int.from_bytes(os.urandom(6), "big") | (1 << 40)


def v1() -> str:
    return str(_uuid.uuid1(node=_NODE))


def v4() -> str:
    return str(_uuid.uuid4())


def _name_based(algo, version: int, ns_hex: str, name: str, latin1: bool) -> str:
    data = bytes.fromhex(ns_hex) + name.encode("latin-1" if latin1 else "utf-8")
    b = bytearray(algo(data).digest()[:16])
    b[6] = (b[6] & 0x0F) | (version << 4)
    b[8] = (b[8] & 0x3F) | 0x80
    return str(_uuid.UUID(bytes=bytes(b)))


def v3(ns_hex: str, name: str, latin1: bool) -> str:
    return _name_based(hashlib.md5, 3, ns_hex, name, latin1)


def v5(ns_hex: str, name: str, latin1: bool) -> str:
    return _name_based(hashlib.sha1, 5, ns_hex, name, latin1)


def v7() -> str:
    """48-bit Unix milliseconds, then 12 bits of sub-millisecond time that keep ids from one
    process strictly increasing (google/uuid's scheme), then random bits."""
    global _last_v7
    nano = time.time_ns()
    milli = nano // 1_000_000
    seq = (nano - milli * 1_000_000) >> 8
    now = (milli << 12) + seq
    with _lock:
        if now <= _last_v7:
            now = _last_v7 + 1
        _last_v7 = now
    milli, seq = now >> 12, now & 0xFFF
    b = bytearray(os.urandom(16))
    b[0:6] = milli.to_bytes(6, "big")
    b[6] = 0x70 | ((seq >> 8) & 0x0F)
    b[7] = seq & 0xFF
    b[8] = (b[8] & 0x3F) | 0x80
    return str(_uuid.UUID(bytes=bytes(b)))


def install(engine):
    return {"v1": v1, "v3": v3, "v4": v4, "v5": v5, "v7": v7}
