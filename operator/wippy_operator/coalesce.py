"""Work that many events ask for but that needs doing once for all of them (an app's status after
a burst of entry changes): keys are marked dirty and a worker thread handles each at most once
per interval, however often it was marked meanwhile."""
from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("wippy.operator")

K = TypeVar("K", bound=Hashable)


class Coalescer(Generic[K]):
    """``busy_share``: the part of the time the worker may spend computing. A pass over a large app
    (thousands of entries) takes tens of milliseconds of the GIL that the handlers need; the pause
    after it grows with it, so a burst is summed up less often instead of starving the handlers."""

    def __init__(self, work: Callable[[K], None], interval: float = 0.2, name: str = "coalescer",
                 busy_share: float = 0.25):
        self._work = work
        self._interval = interval
        self._idle_per_busy = (1 - busy_share) / busy_share
        self._name = name
        self._dirty: dict[K, contextvars.Context] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def mark(self, key: K) -> None:
        # the caller's context (a kopf handler's) lets the work post Kubernetes Events
        with self._cond:
            self._dirty[key] = contextvars.copy_context()
            self._cond.notify()

    def start(self) -> None:
        with self._cond:
            self._stopping = False
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._dirty and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch, self._dirty = self._dirty, {}
            cpu = time.thread_time()  # CPU, not waits on the API server: the GIL is what the handlers need
            for key, ctx in batch.items():
                try:
                    ctx.run(self._work, key)
                except Exception:
                    log.exception("%s: %r", self._name, key)
            time.sleep(max(self._interval, (time.thread_time() - cpu) * self._idle_per_busy))
