"""The runtime's recent log records, kept in memory for whoever asks after an entry's logs: the
MCP `logs` tool of a folder app, and a pod's `/logs` (metrics.serve) for the one on Kubernetes."""
from __future__ import annotations

import collections
import logging


class LogBuffer(logging.Handler):
    def __init__(self, size: int = 2000):
        super().__init__(logging.DEBUG)
        self.records: collections.deque = collections.deque(maxlen=size)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append({"ts": record.created, "level": record.levelname.lower(), "logger": record.name,
                             "message": record.getMessage(), "entry": getattr(record, "entry", None),
                             "pid": getattr(record, "pid", None), "fields": getattr(record, "fields", None)})

    def of(self, entry_id: str, limit: int = 50) -> list[dict]:
        """The newest ``limit`` records of an entry, oldest first."""
        return [r for r in self.records if r["entry"] == entry_id][-max(0, limit):]

    def install(self) -> LogBuffer:
        logging.getLogger("wippy").addHandler(self)
        return self

    def remove(self) -> None:
        logging.getLogger("wippy").removeHandler(self)
