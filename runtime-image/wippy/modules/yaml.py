"""Python side of the `yaml` module (PyYAML, C-accelerated when libyaml is present).

Decoding follows what Wippy's yaml.v3 gives Lua code where YAML 1.1 and 1.2 differ:
only true/false (any case form) are booleans (`yes`, `on`... stay strings), dates and
timestamps stay strings, and `1e3` is a float. Only the first document is read.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from ..engine.errors import WippyError, INTERNAL, INVALID

try:   # the C (libyaml) loader when PyYAML was built with it
    from yaml import CSafeLoader as _BaseLoader
except ImportError:
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

BOOL_TAG = "tag:yaml.org,2002:bool"
FLOAT_TAG = "tag:yaml.org,2002:float"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

MAX_NODES = 1_000_000   # aliases can expand exponentially; bound what reaches Lua


class _Loader(_BaseLoader):
    pass


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


def _lua_ready(value: Any, budget: list[int]) -> Any:
    """Python value from PyYAML -> only types engine.to_lua handles, keys Lua can hold."""
    budget[0] -= 1
    if budget[0] < 0:
        raise WippyError(INTERNAL, "decode failed: document expands to too many nodes", False)
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
            out[k] = _lua_ready(v, budget)
        return out
    if isinstance(value, (list, tuple, set)):
        return [_lua_ready(v, budget) for v in value]
    return str(value)


def _ordered(value: Any, rank: dict) -> Any:
    """Mappings with the `field_order` keys first (in that order), the rest sorted."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (0, rank[k], "") if k in rank else (1, 0, k))
        return {k: _ordered(value[k], rank) for k in keys}
    if isinstance(value, list):
        return [_ordered(v, rank) for v in value]
    return value


def install(engine):
    def encode(json_text: str, field_order=None):
        order = list(engine.py(field_order)) if field_order is not None else []
        try:
            data = _ordered(json.loads(json_text), {k: i for i, k in enumerate(order)})
            return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True,
                             default_flow_style=False, width=4096)
        except Exception as e:  # noqa: BLE001 - any failure is an encode error for Lua
            raise WippyError(INTERNAL, f"encode failed: {e}", False) from None

    def decode(text: str):
        try:
            docs = yaml.load_all(text, Loader=_Loader)
            data = next(docs, None)
        except yaml.YAMLError as e:
            raise WippyError(INTERNAL, f"decode failed: {e}", False) from None
        except RecursionError:
            raise WippyError(INTERNAL, "decode failed: document nested too deeply", False) from None
        try:
            return engine.to_lua(_lua_ready(data, [MAX_NODES]))
        except RecursionError:
            raise WippyError(INTERNAL, "decode failed: document nested too deeply", False) from None

    def to_json(value):
        # fallback when the json module is not installed in this engine
        try:
            return json.dumps(engine.py(value), ensure_ascii=False)
        except Exception as e:  # noqa: BLE001
            raise WippyError(INVALID, f"encode failed: {e}", False) from None

    return {"encode": encode, "decode": decode, "to_json": to_json}
