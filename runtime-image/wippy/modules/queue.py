"""Python side of the `queue` module: publish, info, and the current message's ack/nack."""
from __future__ import annotations

from ..data import Resources
from ..data.queue import ACTIVE
from ..engine.errors import WippyError, INVALID


def install(engine):
    res = lambda: Resources.of(engine.node)  # noqa: E731

    async def publish(queue_id, body, headers):
        h = engine.py(headers) if headers is not None else None
        if h == []:
            h = {}
        return await res().queue(queue_id).publish(engine.py(body), h)

    async def info(queue_id):
        return engine.to_lua(await res().queue(queue_id).info())

    async def ack(token):
        d = ACTIVE.get(int(token))
        if d is None:
            raise WippyError(INVALID, "message already settled")
        if not await d.ack():
            raise WippyError(INVALID, "message already acked or nacked")
        return True

    async def nack(token):
        d = ACTIVE.get(int(token))
        if d is None:
            raise WippyError(INVALID, "message already settled")
        if not await d.nack("nacked by handler"):
            raise WippyError(INVALID, "message already acked or nacked")
        return True

    return {"publish": publish, "info": info, "ack": ack, "nack": nack}
