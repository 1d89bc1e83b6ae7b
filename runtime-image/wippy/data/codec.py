"""The wire encoding of queue message bodies (a queue.queue's `codec`): JSON or MessagePack."""
from __future__ import annotations

import json
from typing import Any

import msgpack

from ..engine.errors import INVALID, WippyError

JSON, MSGPACK = "json/plain", "application/msgpack"
CONTENT_TYPES = {JSON: "application/json", MSGPACK: "application/msgpack"}


def canonical(codec: str) -> str:
    """The codec a queue entry names ('json' is 'json/plain')."""
    return MSGPACK if codec == MSGPACK else JSON


def encode(codec: str, body: Any) -> bytes:
    try:
        if codec == MSGPACK:
            return msgpack.packb(body, use_bin_type=True)
        return json.dumps(body).encode()
    except (TypeError, ValueError, OverflowError) as e:
        raise WippyError(INVALID, f"queue: body cannot be encoded as {CONTENT_TYPES[codec]}: {e}") from None


def decode(codec: str, data: bytes) -> Any:
    """A body as it came off the wire; a JSON body that does not parse is handed over as text."""
    if codec == MSGPACK:
        return msgpack.unpackb(data, raw=False)
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def of_content_type(content_type: str | None) -> str:
    return MSGPACK if content_type == CONTENT_TYPES[MSGPACK] else JSON
