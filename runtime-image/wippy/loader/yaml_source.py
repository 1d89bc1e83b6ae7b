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
# Values a document may hold once aliases are expanded: a few hundred bytes of nested aliases
# ("billion laughs") expand to billions, which every later walk (recording a version as JSON,
# copying into Lua) would pay for.
MAX_EXPANDED_NODES = 500_000
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
        _check_expansion(node)
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


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand past MAX_EXPANDED_NODES (counted without expanding:
    each shared node's size is computed once)."""
    sizes: dict[int, int] = {}
    order: list[yaml.Node] = []
    stack, seen = [root], set()
    while stack:   # children before parents, each node once
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        order.append(node)
        if isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    for node in reversed(order):
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        size = 1 + sum(sizes.get(id(c), 1) for c in children)
        if size > MAX_EXPANDED_NODES:
            raise YamlError(f"invalid YAML: aliases expand to more than {MAX_EXPANDED_NODES} values", line_of(node))
        sizes[id(node)] = size


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
