"""Work a module does in one C call over input of any size (compression, key derivation) runs in
a worker thread, never on the event loop: the calling Lua process parks meanwhile (as on I/O),
and the loop (HTTP, every other process) keeps going. The C code releases the GIL. Inputs are
copied first (`binary.take`): a parked process may be ended, and its strings collected, while the
thread still works.

Two workers by default: a hostile app that starts many such calls queues them behind each other,
not in front of the file and socket threads of asyncio's default executor. They are this runtime's
parallel CPU (Lua itself runs on the event loop thread), so `system.runtime.max_procs(n)` sets
their number, as GOMAXPROCS sets Go's."""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

_workers = 2
_POOL = ThreadPoolExecutor(max_workers=_workers, thread_name_prefix="wippy-cpu")

# Below this much work a call stays on the loop: parking costs more than it saves.
INLINE_BYTES = 256 * 1024
# Decompressors write output several times faster than compressors read input (zlib, brotli and
# zstd at their default levels): this much output is no more time on the loop than INLINE_BYTES
# of compression.
INLINE_OUTPUT = 1024 * 1024


async def run(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_POOL, fn, *args)


def workers() -> int:
    return _workers


def set_workers(n: int) -> int:
    """A new pool of n workers for calls from now on; work already queued finishes on the old one."""
    global _POOL, _workers
    old, prev = _POOL, _workers
    _POOL, _workers = ThreadPoolExecutor(max_workers=n, thread_name_prefix="wippy-cpu"), n
    old.shutdown(wait=False)
    return prev
