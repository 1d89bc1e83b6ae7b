"""Python side of time values: time zone rules (zoneinfo) and big-integer arithmetic.

Calendar math and Go layouts run in Lua (time_value.lua); Python is asked only for the
UTC offset and abbreviation of a named zone at an instant, wall-clock -> instant
conversion in a zone, and the modulus used by Round/Truncate.
"""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..engine.errors import WippyError, NOT_FOUND, INVALID

# datetime covers years 1..9999; instants outside use the offset at the nearest edge
_MIN_SEC = -62135596800 + 2 * 86400
_MAX_SEC = 253402300799 - 2 * 86400
_ZERO_TO_UNIX = 62135596800          # seconds from 0001-01-01 (Go's zero time) to 1970-01-01


def _local_zone():
    """The zone Go would call Local: $TZ, else /etc/localtime, else UTC (None)."""
    tz = os.environ.get("TZ")
    if tz is not None:
        name = tz[1:] if tz.startswith(":") else tz
        if name in ("", "UTC", "UTC0", "Etc/UTC"):
            return None
        try:
            if name.startswith("/"):
                with open(name, "rb") as f:
                    return ZoneInfo.from_file(f, key="Local")
            return ZoneInfo(name)
        except (OSError, ValueError, ZoneInfoNotFoundError):
            return None
    try:
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="Local")
    except (OSError, ValueError):
        return None


def _always_utc(z) -> bool:
    if z is None:
        return True
    for year in (1900, 1950, 1980, 2000, 2020, 2030):
        for month in (1, 7):
            dt = datetime(year, month, 1, tzinfo=z)
            if dt.utcoffset() != timedelta(0) or dt.tzname() != "UTC":
                return False
    return True


def install(engine):
    zones: dict[str, ZoneInfo] = {}
    local = _local_zone()
    local_is_utc = _always_utc(local)

    def zone(key: str):
        if key == "Local":
            return local if local is not None else timezone.utc
        z = zones.get(key)
        if z is None:
            z = zones[key] = ZoneInfo(key)
        return z

    def zone_offset(key: str, sec: int):
        """(offset seconds, abbreviation) of zone `key` at Unix second `sec`."""
        sec = min(max(sec, _MIN_SEC), _MAX_SEC)
        dt = datetime.fromtimestamp(sec, zone(key))
        offset = dt.utcoffset()
        assert offset is not None   # an aware datetime: made in a zone
        return int(offset.total_seconds()), dt.tzname() or ""

    def wall_to_unix(key: str, wall: int) -> int:
        """Unix second of the wall-clock second `wall` (seconds since 1970 as if UTC) in
        zone `key`, resolving gaps and overlaps as Go's time.Date does."""
        off1, _ = zone_offset(key, wall)
        if off1 == 0:
            return wall
        utc = wall - off1
        off2, _ = zone_offset(key, utc)
        return wall - off2

    def load_location(name: str):
        """Validate a zone name; returns the key to use for it."""
        if name in ("UTC", "Local"):
            return name
        if name.startswith("/") or ".." in name.split("/"):
            raise WippyError(INVALID, f"unknown time zone {name}", False)
        try:
            zone(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            zones.pop(name, None)
            raise WippyError(NOT_FOUND, f"unknown time zone {name}", False) from None
        return name

    def time_mod(sec: int, nsec: int, d: int) -> int:
        """(time since Go's zero time) mod d, in nanoseconds; d > 0."""
        return ((sec + _ZERO_TO_UNIX) * 1_000_000_000 + nsec) % d

    return {
        "zone_offset": zone_offset,
        "wall_to_unix": wall_to_unix,
        "load_location": load_location,
        "time_mod": time_mod,
        "local_is_utc": local_is_utc,
    }
