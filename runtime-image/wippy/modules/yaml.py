"""Python side of the `yaml` module (PyYAML's pure-Python loader, in a worker thread).

Decoding follows what Wippy's yaml.v3 gives Lua code where YAML 1.1 and 1.2 differ:
only true/false (any case form) are booleans (`yes`, `on`... stay strings), dates and
timestamps stay strings, and `1e3` is a float. Only the first document is read.
"""
from __future__ import annotations

import json
import math
import re
import time
from typing import Any

import yaml

from ..engine.convert import to_lua_sliced
from ..engine.errors import WippyError, INTERNAL, INVALID
from . import offload

# The pure-Python loader, not libyaml's: a document is read in a worker thread, and libyaml's
# loader builds the whole node tree in one C call that holds the GIL, so the event loop would
# wait for it; Python code lets the loop run every few milliseconds, and can check a deadline.
_BaseLoader = yaml.SafeLoader

BOOL_TAG = "tag:yaml.org,2002:bool"
FLOAT_TAG = "tag:yaml.org,2002:float"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

MAX_NODES = 1_000_000   # aliases can expand exponentially; bound what reaches Lua
# Seconds one decode may take in its worker thread: PyYAML builds the document in Python (a few
# MB take seconds), and a hostile document stops here instead of holding the worker
DECODE_SECONDS = 5.0


class _Loader(_BaseLoader):
    deadline = math.inf

    def compose_node(self, parent, index):
        if time.monotonic() > self.deadline:
            raise _too_long()
        return super().compose_node(parent, index)

    def construct_object(self, node, deep=False):
        if time.monotonic() > self.deadline:
            raise _too_long()
        return super().construct_object(node, deep)


def _too_long() -> WippyError:
    return WippyError(INTERNAL, f"decode failed: document took longer than {DECODE_SECONDS:g}s to read", False)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (BOOL_TAG, TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    FLOAT_TAG, re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)   # indent sequences inside mappings


def _str_representer(dumper, data: str):
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_Dumper.add_representer(str, _str_representer)


def _lua_ready(value: Any, budget: list[int], deadline: float = math.inf) -> Any:
    """Python value from PyYAML -> only types engine.to_lua handles, keys Lua can hold."""
    budget[0] -= 1
    if budget[0] < 0:
        raise WippyError(INTERNAL, "decode failed: document expands to too many nodes", False)
    if budget[0] & 4095 == 0 and time.monotonic() > deadline:
        raise _too_long()
    if value is None or isinstance(value, (bool, int, str, bytes)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k is None:
                k = "null"
            elif isinstance(k, float) and math.isnan(k):
                k = "nan"
            elif not isinstance(k, (bool, int, float, str)):
                k = str(k)
            out[k] = _lua_ready(v, budget, deadline)
        return out
    if isinstance(value, (list, tuple, set)):
        return [_lua_ready(v, budget, deadline) for v in value]
    return str(value)


def _ordered(value: Any, rank: dict) -> Any:
    """Mappings with the `field_order` keys first (in that order), the rest sorted."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (0, rank[k], "") if k in rank else (1, 0, k))
        return {k: _ordered(value[k], rank) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, rank) for v in value]
    return value


def _decode(text: str) -> Any:
    """The first document of text as Python values engine.to_lua takes, within DECODE_SECONDS."""
    deadline = time.monotonic() + DECODE_SECONDS
    loader = _Loader(text)
    loader.deadline = deadline
    try:
        data = loader.get_data() if loader.check_data() else None
        return _lua_ready(data, [MAX_NODES], deadline)
    except yaml.YAMLError as e:
        raise WippyError(INTERNAL, f"decode failed: {e}", False) from None
    except RecursionError:
        raise WippyError(INTERNAL, "decode failed: document nested too deeply", False) from None
    finally:
        loader.dispose()


def install(engine):
    def encode(json_text: str, field_order=None):
        order = list(engine.py(field_order)) if field_order is not None else []
        try:
            data = _ordered(json.loads(json_text), {k: i for i, k in enumerate(order)})
            return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                             default_flow_style=False, width=4096)
        except Exception as e:  # noqa: BLE001 - any failure is an encode error for Lua
            raise WippyError(INTERNAL, f"encode failed: {e}", False) from None

    async def decode(text: str):
        # read in a worker thread, never on the event loop (offload.py): the calling process
        # parks meanwhile; the result becomes Lua tables a slice at a time
        return await to_lua_sliced(engine, await offload.run(_decode, text))

    def to_json(value):
        # fallback when the json module is not installed in this engine
        try:
            return json.dumps(engine.py(value), ensure_ascii=False)
        except Exception as e:  # noqa: BLE001
            raise WippyError(INVALID, f"encode failed: {e}", False) from None

    return {"encode": encode, "decode": decode, "to_json": to_json}
