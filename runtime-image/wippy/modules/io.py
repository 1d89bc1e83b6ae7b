"""Python side of `io`: terminal I/O that never blocks the event loop."""
from __future__ import annotations

import asyncio
import atexit
import sys
from typing import Any

from ..engine.errors import INTERNAL, UNAVAILABLE, WippyError

DEFAULT_READ = 1024

# raw mode is counted across the runtime; the saved terminal settings come back at exit
class _RawMode:
    count = 0
    saved: list[Any] | None = None
    fd = -1


_raw = _RawMode()


def _restore() -> None:
    if _raw.saved is not None:
        import termios
        try:
            termios.tcsetattr(_raw.fd, termios.TCSADRAIN, _raw.saved)
        except (OSError, termios.error):
            pass
        _raw.saved = None


atexit.register(_restore)


def install(engine):
    def guarded(what, fn):
        def call(*args):
            try:
                return fn(*args)
            except (OSError, ValueError) as e:
                raise WippyError(INTERNAL, f"{what} failed: {e}") from None
        return call

    def write(text):
        sys.stdout.write(text)
        return True

    def ewrite(text):
        sys.stderr.write(text)
        return True

    def flush():
        sys.stdout.flush()
        return True

    def binary_stdin():
        # both reads go through the byte layer, so a readline never hides bytes from a read
        return getattr(sys.stdin, "buffer", None)

    async def readline():
        stream = binary_stdin()
        try:
            line = await asyncio.get_running_loop().run_in_executor(
                None, stream.readline if stream is not None else sys.stdin.readline)
        except (OSError, ValueError) as e:
            raise WippyError(INTERNAL, f"read failed: {e}") from None
        if not line:
            return None   # end of input
        if isinstance(line, bytes):
            line = line.decode("utf-8", "replace")
        return line.rstrip("\n")

    async def read(n=None):
        if not isinstance(n, int) or n <= 0:
            n = DEFAULT_READ
        stream = binary_stdin()
        reader = stream.read1 if stream is not None and hasattr(stream, "read1") else sys.stdin.read
        try:
            data = await asyncio.get_running_loop().run_in_executor(None, reader, n)
        except (OSError, ValueError) as e:
            raise WippyError(INTERNAL, f"read failed: {e}") from None
        return data if data else None

    def raw(enable):
        import termios
        import tty
        if not sys.stdin.isatty():
            raise WippyError(UNAVAILABLE, "raw mode needs a terminal on stdin")
        try:
            fd = sys.stdin.fileno()
            if enable:
                if _raw.count == 0:
                    _raw.saved, _raw.fd = termios.tcgetattr(fd), fd
                    tty.setraw(fd, termios.TCSADRAIN)
                _raw.count += 1
            elif _raw.count > 0:
                _raw.count -= 1
                if _raw.count == 0:
                    _restore()
        except (OSError, ValueError, termios.error) as e:
            raise WippyError(INTERNAL, f"raw mode failed: {e}") from None
        return True

    def args():
        return engine.to_lua(list(getattr(engine.node, "command_args", [])))

    return {"write": guarded("write", write), "ewrite": guarded("write", ewrite), "flush": guarded("flush", flush),
            "readline": readline, "read": read, "raw": raw, "args": args}
