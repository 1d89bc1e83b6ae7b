"""Python side of the `payload` global: MessagePack encoding, used to check that a value
can be transcoded (msgpack)."""
from __future__ import annotations

import msgpack

from ..engine.convert import NotConvertible
from ..engine.errors import INTERNAL, WippyError


def install(engine):
    def to_msgpack(value):
        try:
            return msgpack.packb(engine.py(value), use_bin_type=True)
        except (NotConvertible, TypeError, ValueError, OverflowError) as e:
            raise WippyError(INTERNAL, f"transcode to application/msgpack: {e}") from None
    return {"to_msgpack": to_msgpack}
