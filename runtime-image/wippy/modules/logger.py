"""Python side of the `logger` module: Lua log calls become `logging` records with fields."""
import logging

LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


def install(engine):
    def emit(level, message, name=None, fields=None, entry=None, pid=None):
        if engine.hide_logs:
            return
        log = logging.getLogger("wippy.lua" + ("." + name if name else ""))
        data = engine.py(fields) if fields is not None else {}
        log.log(LEVELS.get(level, logging.INFO), message,
                extra={"entry": entry, "pid": pid, "fields": data or {}})
    return {"emit": emit}
