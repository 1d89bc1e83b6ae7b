"""Python side of `io`: terminal I/O that never blocks the event loop."""
from __future__ import annotations

import asyncio
import sys


def install(engine):
    def write(text):
        sys.stdout.write(text)
        return True

    def ewrite(text):
        sys.stderr.write(text)
        return True

    def flush():
        sys.stdout.flush()
        return True

    async def readline():
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        if line == "":
            return None   # end of input
        return line.rstrip("\n")

    async def read(n=-1):
        data = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read, n)
        return data if data else None

    def args():
        return engine.to_lua(list(getattr(engine.node, "command_args", [])))

    return {"write": write, "ewrite": ewrite, "flush": flush, "readline": readline, "read": read, "args": args}
