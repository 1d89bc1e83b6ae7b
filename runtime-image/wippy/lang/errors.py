"""The front end's one error: a parse error with the line it happened on."""
from __future__ import annotations

from ..engine.errors import WippyError, INVALID


class LuaSyntaxError(WippyError):
    """Source that is not Wippy Lua. `line` is 1-based; the message names the near token."""

    def __init__(self, message: str, line: int, chunk: str = "?"):
        super().__init__(INVALID, f"{chunk}:{line}: {message}")
        self.reason = message
        self.line = line
        self.chunk = chunk
