"""Work that many events ask for but that needs doing once for all of them (an app's status after
a burst of entry changes): keys are marked dirty and a worker thread handles each at most once
per interval, however often it was marked meanwhile."""
from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("wippy.operator")

K = TypeVar("K", bound=Hashable)


class _Worker:
    """A daemon thread that waits on ``_cond`` for work marked by the handlers, until stopped."""

    def __init__(self, name: str):
        self._name = name
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False

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
        raise NotImplementedError


class Coalescer(_Worker, Generic[K]):
    """``busy_share``: the part of the time the worker may spend busy, as ``clock`` measures it. A
    pass over a large app (thousands of entries) takes tens of milliseconds of the GIL that the
    handlers need (``time.thread_time``: its CPU); writes of large objects take the API server's
    time (``time.monotonic``: the wall time they took). The pause after a pass grows with it, so a
    burst is summed up less often, in larger batches, instead of starving the others."""

    def __init__(self, work: Callable[[K], None], interval: float = 0.2, name: str = "coalescer",
                 busy_share: float = 0.25, clock: Callable[[], float] = time.thread_time,
                 burst_pause: float | None = None):
        """``burst_pause``: while marks keep coming (work was waiting whenever a pause ended),
        the pause doubles up to this, so a burst is taken in a few large batches; the first
        mark after a quiet moment is handled at once."""
        super().__init__(name)
        self._work = work
        self._interval = interval
        self._burst_pause = max(interval, burst_pause or interval)
        self._idle_per_busy = (1 - busy_share) / busy_share
        self._clock = clock
        self._dirty: dict[K, contextvars.Context] = {}

    def mark(self, key: K) -> None:
        # the caller's context (a kopf handler's) lets the work post Kubernetes Events
        with self._cond:
            self._dirty[key] = contextvars.copy_context()
            self._cond.notify()

    def _run(self) -> None:
        pause = self._interval
        while True:
            with self._cond:
                pause = min(pause * 2, self._burst_pause) if self._dirty else self._interval
                while not self._dirty and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                batch, self._dirty = self._dirty, {}
            started = self._clock()
            for key, ctx in batch.items():
                try:
                    ctx.run(self._work, key)
                except Exception:
                    log.exception("%s: %r", self._name, key)
            time.sleep(max(pause, (self._clock() - started) * self._idle_per_busy))


class Later(_Worker, Generic[K]):
    """Keys handled once, some seconds after they were first marked (marks meanwhile are one):
    what is worth waiting a moment for, since it may not be needed by then. ``work`` takes the
    batch of keys that are due, each with the context it was marked in."""

    def __init__(self, work: Callable[[list[tuple[K, contextvars.Context]]], None], name: str = "later"):
        super().__init__(name)
        self._work = work
        self._due: dict[K, contextvars.Context] = {}
        self._heap: list[tuple[float, int, K]] = []
        self._order = itertools.count()

    def mark(self, key: K, delay: float) -> None:
        with self._cond:
            if key not in self._due:
                self._due[key] = contextvars.copy_context()
                due = (time.monotonic() + delay, next(self._order), key)
                heapq.heappush(self._heap, due)
                # the worker sleeps until the first key is due: woken only when that is this one
                # (a burst marks thousands of keys due later, and each wake-up took the GIL)
                if self._heap[0] is due:
                    self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(max(0.0, self._heap[0][0] - time.monotonic()) if self._heap else None)
                if self._stopping:
                    return
                batch = []
                while self._heap and self._heap[0][0] <= time.monotonic():
                    key = heapq.heappop(self._heap)[2]
                    batch.append((key, self._due.pop(key)))
            try:
                self._work(batch)
            except Exception:
                log.exception("%s: %d keys", self._name, len(batch))
