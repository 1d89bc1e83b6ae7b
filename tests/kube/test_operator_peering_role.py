"""What a replica says about its role, read from a kopf peering object's status (kopf's rule:
stand by while a live peer has a higher or the same priority)."""
from __future__ import annotations

import datetime

from wippy_operator.ha import role

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.UTC)


def peer(priority: int, seconds_ago: int = 1, lifetime: int = 60) -> dict:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


def test_alone_or_highest_is_active():
    assert role({}, "me", 5, NOW) == "active"
    assert role({"me": peer(5), "b": peer(3)}, "me", 5, NOW) == "active"


def test_a_live_higher_peer_makes_a_standby():
    assert role({"me": peer(5), "a": peer(9)}, "me", 5, NOW) == "standby: a has a higher priority and is active"


def test_same_priority_pauses_everyone():
    assert role({"a": peer(5)}, "me", 5, NOW).startswith("standby: a has the same priority")


def test_a_dead_peer_does_not_count():
    assert role({"a": peer(9, seconds_ago=61)}, "me", 5, NOW) == "active"
    assert role({"a": peer(9, seconds_ago=20, lifetime=20)}, "me", 5, NOW) == "active"
    assert role({"a": peer(9, seconds_ago=0, lifetime=0)}, "me", 5, NOW) == "active"  # a replica that left
