"""Data-moving Lua modules against the same operation done directly in Python, same run.

    .venv/bin/python bench/modules.py [--quick] [--only PREFIX]

Each line: the Lua-facing call (inside a Lua process, on a 1 MB input already in Lua),
the direct Python call on the same bytes, and their ratio. The target is a ratio <= 2.0.
Both sides are timed in process CPU time (os.clock / time.process_time), best of 5 rounds
that alternate between the sides (the machine's load shifts during a run), after one warm-up
round of each side.

The Lua side includes what its results cost Lua's collector (each 1 MB result is garbage the
incremental collector finds by walking the whole heap, the records included): 5 operations per
round are ~5 MB, less than one collector cycle, so the best round may hold little of it.
`--n 40` spreads whole cycles over every round: the cost a long loop of such calls sees.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runtime-image"))

import brotli  # noqa: E402
import re2  # noqa: E402
import zstandard  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305  # noqa: E402

from wippy.engine.engine import Engine  # noqa: E402
from wippy.engine.node import Node  # noqa: E402
from wippy.modules import text as text_py  # noqa: E402

HOST = "bench:host"
MB = 1 << 20


class Entry:
    def __init__(self, entry_id, source, modules):
        self.id, self.kind = entry_id, "process.lua"
        self.data = {"source": source, "method": "main", "modules": list(modules)}


def sample_records() -> list:
    """Records whose JSON text is about 1 MB."""
    out, size, i = [], 0, 0
    while size < MB:
        rec = {"id": i, "name": f"user {i}", "email": f"user{i}@example.com", "active": i % 3 == 0,
               "score": i * 1.5, "tags": ["a", "b", f"t{i % 10}"]}
        out.append(rec)
        size += len(json.dumps(rec)) + 1
        i += 1
    return out


# name -> (Lua setup run once, Lua operation run `n` times, modules)
CASES = {
    "json.encode": ("", "json.encode(records)", ["json"]),
    "json.decode": ("", "json.decode(jtext)", ["json"]),
    "compress.gzip.encode": ("", "compress.gzip.encode(jtext)", ["compress"]),
    "compress.gzip.decode": ("local gz = compress.gzip.encode(jtext)", "compress.gzip.decode(gz)", ["compress"]),
    "compress.zstd.encode": ("", "compress.zstd.encode(jtext)", ["compress"]),
    "compress.zstd.decode": ("local z = compress.zstd.encode(jtext)", "compress.zstd.decode(z)", ["compress"]),
    "compress.brotli.encode": ("", "compress.brotli.encode(jtext, {level = 4})", ["compress"]),
    "compress.brotli.decode": ("local b = compress.brotli.encode(jtext, {level = 4})", "compress.brotli.decode(b)",
                               ["compress"]),
    "crypto.encrypt.aes": ("", "crypto.encrypt.aes(blob, key)", ["crypto"]),
    "crypto.decrypt.aes": ("local c = crypto.encrypt.aes(blob, key)", "crypto.decrypt.aes(c, key)", ["crypto"]),
    "crypto.encrypt.chacha20": ("", "crypto.encrypt.chacha20(blob, key)", ["crypto"]),
    "crypto.hmac.sha256": ("", "crypto.hmac.sha256(key, blob)", ["crypto"]),
    "hash.sha256": ("", "hash.sha256(blob)", ["hash"]),
    "hash.md5": ("", "hash.md5(blob)", ["hash"]),
    "text.regexp find_all_string": ("local re = text.regexp.compile('user[0-9]+@example')",
                                    "re:find_all_string(jtext)", ["text"]),
    "text.regexp replace_all_string": ("local re = text.regexp.compile('user ([0-9]+)')",
                                       "re:replace_all_string(jtext, 'u-$1')", ["text"]),
    "text.splitter split_text": ("local sp = text.splitter.recursive({chunk_size = 1000, chunk_overlap = 100})",
                                 "sp:split_text(prose)", ["text"]),
}


def direct_ops(text: bytes, blob: bytes, key: bytes, records: list, prose: str) -> dict:
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)
    gz_data = gz.compress(text) + gz.flush()
    z_data = zstandard.ZstdCompressor(level=3).compress(text)
    b_data = brotli.compress(text, quality=4)
    aes = AESGCM(key)
    nonce = os.urandom(12)
    c_data = nonce + aes.encrypt(nonce, blob, None)
    rx_find = re2.compile(b"user[0-9]+@example")
    rx_repl = re2.compile(b"user ([0-9]+)")
    splitter = text_py.Recursive(1000, 100)

    def gzip_encode():
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        return c.compress(text) + c.flush()

    def encrypt(cls):
        c = cls(key)
        n = os.urandom(12)
        return n + c.encrypt(n, blob, None)

    return {
        "json.encode": lambda: json.dumps(records, separators=(",", ":"), sort_keys=True),
        "json.decode": lambda: json.loads(text),
        "compress.gzip.encode": gzip_encode,
        "compress.gzip.decode": lambda: zlib.decompressobj(31).decompress(gz_data),
        "compress.zstd.encode": lambda: zstandard.ZstdCompressor(level=3).compress(text),
        "compress.zstd.decode": lambda: zstandard.ZstdDecompressor().decompress(z_data),
        "compress.brotli.encode": lambda: brotli.compress(text, quality=4),
        "compress.brotli.decode": lambda: brotli.decompress(b_data),
        "crypto.encrypt.aes": lambda: encrypt(AESGCM),
        "crypto.decrypt.aes": lambda: aes.decrypt(c_data[:12], c_data[12:], None),
        "crypto.encrypt.chacha20": lambda: encrypt(ChaCha20Poly1305),
        "crypto.hmac.sha256": lambda: hmac.new(key, blob, "sha256").hexdigest(),
        "hash.sha256": lambda: hashlib.sha256(blob).hexdigest(),
        "hash.md5": lambda: hashlib.md5(blob).hexdigest(),
        "text.regexp find_all_string": lambda: [m.group(0) for m in rx_find.finditer(text)],
        "text.regexp replace_all_string": lambda: rx_repl.sub(rb"u-\1", text),
        "text.splitter split_text": lambda: splitter.split(prose),
    }


def timed(fn, n: int) -> float:
    t = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - t) / n


class LuaBench:
    """Runs one round of a case as a Lua process (per-op time measured with os.clock)."""

    def __init__(self, args: list, n: int):
        self.entries: dict = {}
        self.node = Node("bench", self.entries.get)
        engine = Engine(self.node, HOST, slice_timeout=600)
        self.node.add_host(HOST, engine)
        # converted once: a round's timed loop would otherwise also pay for collecting the
        # previous round's copy of the records (~10 MB of small tables), no part of any operation
        self.args, self.n = [engine.to_lua(a) for a in args], n

    async def round(self, name: str) -> float:
        setup, op, mods = CASES[name]
        eid = f"bench:case{list(CASES).index(name)}"
        if eid not in self.entries:
            requires = "".join(f'local {m} = require("{m}")\n' for m in mods)
            src = (f"{requires}function main(records, jtext, blob, key, prose, n)\n{setup}\n"
                   f"  local t = os.clock()\n"
                   f"  for i = 1, n do local v, err = {op}; assert(err == nil, tostring(err)) end\n"
                   f"  return (os.clock() - t) / n\nend")
            self.entries[eid] = Entry(eid, src, mods)
        return await self.node.exec(eid, HOST, self.args + [self.n])


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations (figures are noisier)")
    ap.add_argument("--only", default="", help="only the operations whose name starts with this")
    ap.add_argument("--n", type=int, default=0, help="operations per round (5; with 40 or more every round "
                    "includes whole cycles of Lua's collector for the garbage the operations leave)")
    opts = ap.parse_args()
    names = [name for name in CASES if name.startswith(opts.only)]
    n, rounds = (2, 3) if opts.quick else (5, 5)
    n = opts.n or n
    records = sample_records()
    text = json.dumps(records, separators=(",", ":")).encode()
    blob = os.urandom(MB)
    key = os.urandom(32)
    prose = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 20 + "\n\n") * (MB // 1180)
    direct = direct_ops(text, blob, key, records, prose)
    lua = LuaBench([records, text, blob, key, prose], n)
    print(f"input: {len(text) / MB:.2f} MB JSON text / {len(blob) / MB:.2f} MB random bytes / "
          f"{len(prose) / MB:.2f} MB prose; best of {rounds} rounds of {n}, the two sides alternating")
    print(f"{'operation':34} {'Lua call':>10} {'Python':>10} {'ratio':>7}")
    for name in names:
        # rounds alternate between the sides, so a busy spell on the machine hits both alike
        # one round of each side first, not counted: the first 1 MB allocations of a process
        # fault fresh pages in and move malloc's mmap threshold (a cost of the process, once)
        await lua.round(name)
        timed(direct[name], n)
        lt = dt = float("inf")
        for _ in range(rounds):
            lt = min(lt, await lua.round(name))
            dt = min(dt, timed(direct[name], n))
        ratio = lt / dt
        flag = "" if ratio <= 2.0 else "  over 2x"
        print(f"{name:34} {lt * 1e3:8.2f}ms {dt * 1e3:8.2f}ms {ratio:6.2f}x{flag}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
