"""Field types shared by kind models."""

from __future__ import annotations

from typing import Annotated

import annotated_types
from pydantic import AfterValidator, BeforeValidator, ByteSize, WithJsonSchema

from wippy.durations import parse_duration
from wippy.registry.entry import parse_id


def _check_ref(value: str) -> str:
    if not value:
        raise ValueError("entry reference must not be empty")
    if ":" in value:
        parse_id(value)
    return value


def _file_mode(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("file mode must be octal digits like '0644' or a number like 0644")
    if isinstance(value, str):
        digits = value.strip().removeprefix("0o")
        if not digits or any(c not in "01234567" for c in digits):
            raise ValueError(f"file mode {value!r} is not octal (like '0644')")
        value = int(digits, 8)
    if not isinstance(value, int) or not 0 <= value <= 0o7777:
        raise ValueError(f"file mode {value!r} is out of range (0 to 07777)")
    return value


def _check_module(value: str) -> str:
    if ":" in value:
        raise ValueError(f"module name {value!r} must not contain a namespace (use imports for entries)")
    return value


# Seconds; written as Go durations ("10s", "1h30m") or a number of seconds. In the
# CRD schema it is the usual int-or-string; defaults are given as strings so the
# schema shows "10s" and the value is parsed like user input.
Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    annotated_types.Ge(0),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]

# Bytes; written as a number or with a unit ("64MiB", "1GB").
Size = Annotated[
    ByteSize,
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]

# Another entry: a full "ns:name" id or a bare name in the referring entry's namespace.
EntryRef = Annotated[str, AfterValidator(_check_ref)]

# Unix permission bits: YAML's 0644 (an octal number) or the string "0644"; the value is the mode.
FileMode = Annotated[
    int,
    BeforeValidator(_file_mode),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": True}),
]

# A built-in module name for require() allow-lists ("json", "http").
ModuleName = Annotated[str, AfterValidator(_check_module)]
