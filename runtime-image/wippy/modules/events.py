"""Python side of the `events` module: subscriptions on the node-wide bus deliver to a
topic of the subscribing process (its Subscription channel)."""
from __future__ import annotations

import itertools

from ..data import Resources
from ..data.events import valid_pattern
from ..engine.errors import WippyError, INVALID


def install(engine):
    bus = lambda: Resources.of(engine.node).bus  # noqa: E731
    seq = itertools.count(1)

    def topic():
        return f"@events.{next(seq)}"

    def subscribe(pid, topic_name, system, kind):
        if not valid_pattern(system):
            raise WippyError(INVALID, f"events.subscribe: invalid system pattern {system!r}")
        if kind is not None and not valid_pattern(kind):
            raise WippyError(INVALID, f"events.subscribe: invalid kind pattern {kind!r}")

        def deliver(ev):
            if engine.closed or not engine.has_process(pid):
                return False
            engine.deliver(pid, topic_name, None, ev)
            return True
        return bus().subscribe(system, kind, deliver)

    def unsubscribe(sid):
        return bus().unsubscribe(int(sid))

    def send(system, kind, path, data):
        if not isinstance(system, str) or not system:
            raise WippyError(INVALID, "events.send: system must be a non-empty string")
        if not isinstance(kind, str) or not kind:
            raise WippyError(INVALID, "events.send: kind must be a non-empty string")
        if path is not None and not isinstance(path, str):
            raise WippyError(INVALID, "events.send: path must be a string")
        bus().send(system, kind, path or "", engine.py(data) if data is not None else None)
        return True

    return {"topic": topic, "subscribe": subscribe, "unsubscribe": unsubscribe, "send": send}
