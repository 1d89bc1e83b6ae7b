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
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

# Work in Python code (a YAML document, a schema's checks, a template) still takes the GIL while
# it runs in a worker: every time the loop thread lets go of it (each select, send, recv) it waits
# up to the switch interval to get it back, 5 ms by default, so a probe that makes twenty such
# calls answered 100-350 ms late. With 1 ms the loop waits a fifth as long; a single thread
# never switches, so the cost is only where threads compete.
SWITCH_INTERVAL = 0.001
sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))

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
