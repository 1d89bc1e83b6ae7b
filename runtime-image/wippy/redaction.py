"""The one place that keeps resolved secret values out of what the node says.

Every value a `${env:NAME}` placeholder resolves to is remembered here (`remember`); `redact`
replaces each in a text with the placeholder it came from. Errors (`WippyError`, whose message
is redacted when made: exit errors, error bodies, MCP and CLI output), the runtime's error
reports and every log record (through the record factory `install` sets) go through it.
"""
from __future__ import annotations

import logging
import re
import threading

# shorter values would also hit ordinary text ("1", "true"); they are not treated as secrets
MIN_LENGTH = 4

_names: dict[str, str] = {}          # value -> variable name
_pattern: re.Pattern | None = None
_lock = threading.Lock()
_installed = False


def remember(name: str, value: str) -> None:
    """A variable's resolved value: from now on it never appears in output."""
    global _pattern
    if not isinstance(value, str) or len(value) < MIN_LENGTH or _names.get(value) == name:
        return
    with _lock:
        _names[value] = name
        # longest first, so a value containing another is replaced whole
        _pattern = re.compile("|".join(re.escape(v) for v in sorted(_names, key=len, reverse=True)))


def redact(text: str) -> str:
    """`text` with every remembered value replaced by `<value of ${env:NAME}>`."""
    pattern = _pattern
    if pattern is None or not isinstance(text, str):
        return text
    return pattern.sub(lambda m: f"<value of ${{env:{_names[m.group(0)]}}}>", text)


def install() -> None:
    """Redact every log record of the process (message and traceback), whatever its logger."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        if _pattern is None:
            return record
        try:
            message = record.getMessage()
        except Exception:   # noqa: BLE001 - a bad format string is the handler's to report
            return record
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)
