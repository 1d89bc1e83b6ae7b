"""Go-style durations ("1h30m", "500ms") as float seconds.

Entries written for the original Go runtime use Go's ``time.ParseDuration``
syntax, so we accept exactly that; plain numbers are taken as seconds because
YAML authors often write ``timeout: 30``.
"""

from __future__ import annotations

import re

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # U+00B5 micro sign, what Go prints
    "μs": 1_000,  # U+03BC greek mu, also accepted by Go
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE = re.compile(r"(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


def parse_duration(value: object) -> float:
    """Return ``value`` in seconds; raise ValueError naming the bad input."""
    if isinstance(value, bool):  # bool is an int subclass; True is never a duration
        raise ValueError(f"invalid duration {value!r}: expected a string like '10s' or a number of seconds")
    if isinstance(value, (int, float)):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(
            f"invalid duration {value!r}: expected a string like '10s' or a number of seconds"
        )
    text = value.strip()
    sign = 1.0
    if text[:1] in ("+", "-"):
        sign = -1.0 if text[0] == "-" else 1.0
        text = text[1:]
    if text == "0":
        return 0.0
    if not text:
        raise ValueError(f"invalid duration {value!r}: empty")
    if not _WHOLE.fullmatch(text):
        if re.fullmatch(r"\d+\.?\d*|\.\d+", text):
            raise ValueError(f"invalid duration {value!r}: missing unit (use e.g. '{text}s' or '{text}ms')")
        raise ValueError(
            f"invalid duration {value!r}: expected Go syntax like '300ms', '1.5h' or '2h45m' "
            "(units ns, us, ms, s, m, h)"
        )
    total_ns = sum(float(num) * _UNITS_NS[unit] for num, unit in _PART.findall(text))
    return sign * total_ns / 1e9


def format_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()``: '1h30m0s', '500ms', '1.5µs'."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 1_000_000)}ms"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + f"{_fraction(rest, 1_000_000_000)}s"


def _fraction(value: int, unit: int) -> str:
    whole, frac = divmod(value, unit)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"
