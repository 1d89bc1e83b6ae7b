"""Python side of the `print` global."""
import logging

log = logging.getLogger("wippy.lua")


def install(engine):
    def emit(message, entry=None, pid=None):
        log.info(message, extra={"entry": entry, "pid": pid})
    return {"emit": emit}
