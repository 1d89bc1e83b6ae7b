"""Regular expressions that come from entries (schema patterns, sanitizer attribute patterns):
RE2, whose matching is linear in the input, as Go's regexp (Wippy's) is; Python's `re`
backtracks, and one pattern such as `^(a+)+$` holds the event loop for minutes."""
from __future__ import annotations

from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False


@lru_cache(maxsize=512)
def linear_regex(pattern: str):
    """The compiled pattern (search/match/fullmatch as `re`), or ValueError saying why not."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        msg = e.args[0].decode(errors="replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise ValueError(msg) from None
