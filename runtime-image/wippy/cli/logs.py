"""Log output for the CLI: one readable line per record, or JSON lines."""
from __future__ import annotations

import json
import logging
import sys
import time


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%H:%M:%S", time.localtime(record.created))
        where = " ".join(f"{k}={getattr(record, k)}" for k in ("entry", "pid") if getattr(record, k, None))
        fields = getattr(record, "fields", None)
        extra = " " + json.dumps(fields, default=str) if fields else ""
        msg = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return f"{ts} {record.levelname:<5} {record.name}: {msg}{extra}" + (f" [{where}]" if where else "")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": record.created, "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage()}
        for k in ("entry", "pid"):
            if getattr(record, k, None):
                out[k] = getattr(record, k)
        fields = getattr(record, "fields", None)
        if fields:
            out["fields"] = fields
        return json.dumps(out, default=str)


def configure(*, verbose: bool = False, silent: bool = False, fmt: str = "console") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if silent else logging.INFO)
    for noisy in ("asyncio", "watchfiles", "aiohttp.access", "kubernetes", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
