"""Command executors (exec.native): run granted commands as OS processes without blocking the
event loop. Processes start with a clean environment, are capped per executor, and are
killed when their executor entry goes away."""
from __future__ import annotations

import asyncio
import itertools
import os
import signal
from pathlib import Path

from ..engine.errors import INVALID, PERMISSION_DENIED, WippyError

READ_CHUNK = 32 * 1024


class Executor:
    def __init__(self, entry_id: str, model, base_dir: Path | None):
        self.id = entry_id
        self.model = model
        self.base_dir = base_dir
        self.running: set["Process"] = set()
        self.closed = False

    def work_dir(self, wanted: str | None) -> str | None:
        d = wanted or self.model.default_work_dir
        if d is None:
            return str(self.base_dir) if self.base_dir else None
        p = Path(d)
        if not p.is_absolute() and self.base_dir is not None:
            p = self.base_dir / p
        if not p.is_dir():
            raise WippyError(INVALID, f"work directory {d} does not exist")
        return str(p)

    def check(self, cmd: str) -> None:
        if self.closed:
            raise WippyError(INVALID, f"executor {self.id} was removed")
        if not cmd.strip():
            raise WippyError(INVALID, "command is empty")
        wl = self.model.command_whitelist
        if wl is not None and cmd not in wl:
            raise WippyError(PERMISSION_DENIED, f"command not allowed by {self.id}: {cmd!r}")

    def retire(self) -> None:
        self.closed = True
        for p in list(self.running):
            p.kill()


class Process:
    def __init__(self, executor: Executor, cmd: str, work_dir: str | None, env: dict[str, str]):
        self.executor = executor
        self.cmd = cmd
        self.work_dir = work_dir
        self.env = env
        self.want_out = False
        self.want_err = False
        self.proc: asyncio.subprocess.Process | None = None
        self.closed = False

    async def start(self) -> bool:
        if self.closed:
            raise WippyError(INVALID, "process closed")
        if self.proc is not None:
            raise WippyError(INVALID, "process already started")
        ex = self.executor
        if ex.closed:
            raise WippyError(INVALID, f"executor {ex.id} was removed")
        if len(ex.running) >= ex.model.max_processes:
            raise WippyError(INVALID, f"executor {ex.id} already runs {ex.model.max_processes} commands (max_processes)")
        pipe, null = asyncio.subprocess.PIPE, asyncio.subprocess.DEVNULL
        try:
            self.proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", self.cmd, cwd=self.work_dir, env=self.env, stdin=pipe,
                stdout=pipe if self.want_out else null, stderr=pipe if self.want_err else null,
                start_new_session=True)
        except OSError as e:
            raise WippyError(INVALID, f"cannot start {self.cmd!r}: {e}") from None
        ex.running.add(self)
        asyncio.ensure_future(self._reap(self.proc))
        return True

    async def _reap(self, proc: asyncio.subprocess.Process) -> None:
        try:
            await proc.wait()
        finally:
            self.executor.running.discard(self)

    def started(self) -> asyncio.subprocess.Process:
        if self.closed:
            raise WippyError(INVALID, "process closed")
        if self.proc is None:
            raise WippyError(INVALID, "process not started")
        return self.proc

    async def wait(self) -> int:
        code = await self.started().wait()
        return code if code >= 0 else 128 - code

    async def write_stdin(self, data: bytes) -> bool:
        proc = self.started()
        if proc.stdin is None or proc.stdin.is_closing():
            raise WippyError(INVALID, "stdin is closed")
        if not data:
            proc.stdin.close()     # an empty write signals end of input
            return True
        proc.stdin.write(data)
        try:
            await proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            raise WippyError(INVALID, "process closed its input") from None
        return True

    async def read(self, which: str, n: int) -> bytes | None:
        proc = self.started()
        stream = proc.stdout if which == "stdout" else proc.stderr
        if stream is None:
            raise WippyError(INVALID, f"{which} is not captured")
        data = await stream.read(n if n > 0 else READ_CHUNK)
        return data or None

    def signal(self, signum: int) -> bool:
        proc = self.started()
        if proc.returncode is None:
            try:
                os.killpg(proc.pid, signum)
            except ProcessLookupError:
                return False
        return True

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self, force: bool) -> bool:
        """Stop the command (SIGTERM, or SIGKILL when forced); the handle is gone after this."""
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL if force else signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.closed = True
        return True


class Executors:
    """The executors of a node, by entry id, and the processes handed to Lua by handle."""

    def __init__(self, node):
        self.node = node
        self.base_dir: Path | None = None
        self.executors: dict[str, Executor] = {}
        self.handles: dict[int, Process] = {}
        self._ids = itertools.count(1)

    @classmethod
    def of(cls, node) -> "Executors":
        ex = getattr(node, "wippy_executors", None)
        if ex is None:
            ex = node.wippy_executors = cls(node)
        return ex

    def get(self, entry_id: str) -> Executor:
        ex = self.executors.get(entry_id)
        if ex is not None:
            return ex
        entry = self.node.get_entry(entry_id)
        if entry is None:
            raise WippyError(INVALID, f"executor {entry_id} not found")
        if entry.kind != "exec.native":
            raise WippyError(INVALID, f"entry {entry_id} is a {entry.kind}, not an executor")
        from ..kinds.models.catalog import MODELS
        ex = self.executors[entry_id] = Executor(entry_id, MODELS["exec.native"].from_data(entry.data), self.base_dir)
        return ex

    def put(self, entry_id: str, executor: Executor) -> None:
        old = self.executors.get(entry_id)
        self.executors[entry_id] = executor
        if old is not None:
            old.closed = True     # running commands finish; no new ones on the old settings

    def remove(self, entry_id: str) -> None:
        old = self.executors.pop(entry_id, None)
        if old is not None:
            old.retire()

    def new_process(self, p: Process) -> int:
        if len(self.handles) >= 1024:    # forget handles of commands that have ended
            for k in [k for k, v in self.handles.items() if v.proc is not None and v.proc.returncode is not None]:
                del self.handles[k]
        h = next(self._ids)
        self.handles[h] = p
        return h

    def process(self, handle: int) -> Process:
        p = self.handles.get(handle)
        if p is None:
            raise WippyError(INVALID, "process closed")
        return p
