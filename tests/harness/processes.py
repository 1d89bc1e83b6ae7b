"""What the Kubernetes tests share about waiting and about the processes they start."""
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any


def wait_for(fn: Callable[[], Any], timeout: float = 60.0, what: str = "condition", interval: float = 0.2,
             tolerate: tuple[type[BaseException], ...] = ()) -> Any:
    """Poll `fn` until it returns something truthy; errors in `tolerate` count as not yet.

    The default timeout is generous: it only matters when a test fails, and an operator's chain of
    reconciliations on a loaded 2-core machine has outlasted 20 s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = fn()
            if last:
                return last
        except tolerate as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what} (last: {last!r})")
        time.sleep(interval)


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
    """Ask a process to stop as Kubernetes would, and kill it if it does not."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
