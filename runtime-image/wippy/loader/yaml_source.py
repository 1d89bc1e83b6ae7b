"""YAML parsing that keeps line numbers and reads values the way the Go runtime does.

Go's YAML decoder leaves dates as strings and only knows true/false as booleans,
so ``version: 2024-01-01`` stays a string and ``country: NO`` is not False.
Duplicate keys are an error, as they are there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BOOL = "tag:yaml.org,2002:bool"


class _Loader(_Base):  # type: ignore[misc, valid-type]
    pass


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_TIMESTAMP, _BOOL)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


class YamlError(ValueError):
    def __init__(self, message: str, line: int | None):
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class Document:
    data: Any
    node: yaml.Node | None  # None for an empty document


def parse(text: str) -> Document:
    """Parse one YAML document; raise YamlError with the 1-based line of the problem."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return Document(None, None)
        _check_duplicate_keys(node)
        return Document(loader.construct_document(node), node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        message = " ".join(p for p in (e.context, e.problem) if p) or "invalid YAML"
        raise YamlError(f"invalid YAML: {message}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as e:
        raise YamlError(f"invalid YAML: {e}", None) from None
    finally:
        loader.dispose()


def line_of(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def mapping_value(node: yaml.Node, key: str) -> yaml.Node | None:
    """The value node for ``key`` in a mapping node."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _check_duplicate_keys(node: yaml.Node) -> None:
    stack = [node]
    seen_nodes: set[int] = set()
    while stack:
        current = stack.pop()
        if id(current) in seen_nodes:  # aliases share nodes
            continue
        seen_nodes.add(id(current))
        if isinstance(current, yaml.MappingNode):
            keys: dict[str, int] = {}
            for k, v in current.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    if k.value in keys:
                        raise YamlError(
                            f"invalid YAML: key {k.value!r} already defined at line {keys[k.value]}", line_of(k)
                        )
                    keys[k.value] = line_of(k)
                stack.append(v)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
