"""One definition file (``_index.yaml`` or any YAML with a namespace) into entries.

A file with a ``namespace`` and either ``entries:`` or top-level ``name`` + ``kind``
defines entries; any other YAML is not ours and is skipped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from wippy.loader.embed import embed_directory, embed_files
from wippy.loader.errors import LoadError
from wippy.loader.yaml_source import YamlError, line_of, mapping_value, parse
from wippy.registry.entry import Entry, InvalidEntryId, SourceLocation

_ENTRY_KEYS = ("name", "kind", "meta", "data")
_FILE_KEYS = ("namespace", "version")
SUPPORTED_VERSIONS = ("1.0",)


@dataclass
class FileResult:
    file: str  # absolute path
    is_definition: bool = False
    entries: list[Entry] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)
    reads: dict[str, set[str]] = field(default_factory=dict)  # embedded file -> entry ids

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def broken(self) -> bool:
        """Whether the file as a whole failed (its entries are unknown), not just some entries."""
        return any(e.whole_file for e in self.errors)


def load_file(path: Path, root: Path) -> FileResult:
    """Load ``path``; ``root`` bounds where relative ``file://`` references may point."""
    path = path.resolve()
    result = FileResult(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        result.is_definition = True  # cannot tell; keep what it defined before
        result.errors.append(LoadError(result.file, None, None, f"cannot read file: {e}", whole_file=True))
        return result
    try:
        doc = parse(text)
    except YamlError as e:
        result.is_definition = True
        result.errors.append(LoadError(result.file, e.line, None, str(e), whole_file=True))
        return result
    data, node = doc.data, doc.node
    if node is None or not isinstance(data, dict) or "namespace" not in data:   # node is None: empty
        return result
    result.is_definition = True
    _Reader(result, path, root, node).read(data)
    return result


class _Reader:
    def __init__(self, result: FileResult, path: Path, root: Path, node: yaml.Node):
        self.result = result
        self.path = path
        self.root = root
        self.node = node

    def error(self, line: int | None, message: str, entry_id: str | None = None) -> None:
        """A problem of one entry: the file's other entries still load."""
        self.result.errors.append(LoadError(self.result.file, line, entry_id, message))

    def file_error(self, line: int | None, message: str) -> None:
        self.result.errors.append(LoadError(self.result.file, line, None, message, whole_file=True))

    def read(self, doc: dict) -> None:
        root_line = line_of(self.node)
        ns = doc["namespace"]
        if not isinstance(ns, str) or not ns or ":" in ns:
            self.file_error(_key_line(self.node, "namespace"), f"invalid namespace {ns!r}: expected a dotted name like 'app.api'")
            return
        version = doc.get("version")
        if version is not None and str(version) not in SUPPORTED_VERSIONS:
            self.file_error(_key_line(self.node, "version"), f"unsupported version {version!r} (supported: 1.0)")
            return
        if "entries" in doc:
            file_meta = doc.get("meta") or {}
            if not isinstance(file_meta, dict):
                self.file_error(_key_line(self.node, "meta"), "file-level meta must be a mapping")
                return
            items = doc["entries"] or []
            items_node = mapping_value(self.node, "entries")
            if not isinstance(items, list):
                self.file_error(_key_line(self.node, "entries"), "'entries' must be a list of entries")
                return
            item_nodes = items_node.value if isinstance(items_node, yaml.SequenceNode) else []
            for i, raw in enumerate(items):
                line = line_of(item_nodes[i]) if i < len(item_nodes) else root_line
                self.entry(ns, raw, line, file_meta)
        elif "name" in doc and "kind" in doc:
            single = {k: v for k, v in doc.items() if k not in _FILE_KEYS}
            self.entry(ns, single, root_line, {})
        else:
            self.file_error(root_line, f"namespace {ns!r} is declared but the file has neither 'entries:' nor top-level 'name' and 'kind'")

    def entry(self, ns: str, raw: Any, line: int, file_meta: dict) -> None:
        if not isinstance(raw, dict):
            self.error(line, f"an entry must be a mapping with 'name' and 'kind', got {type(raw).__name__}")
            return
        name, kind = raw.get("name"), raw.get("kind")
        missing = [k for k in ("name", "kind") if raw.get(k) in (None, "")]
        label = f"{ns}:{name}" if isinstance(name, str) and name else None
        if missing:
            self.error(line, f"entry is missing {' and '.join(repr(m) for m in missing)}", label)
            return
        if not isinstance(name, str):
            self.error(line, f"entry name must be a string, got {name!r}")
            return
        if not isinstance(kind, str):
            self.error(line, f"kind must be a string, got {kind!r}", label)
            return
        meta = raw.get("meta") or {}
        if not isinstance(meta, dict):
            self.error(line, "meta must be a mapping", label)
            return
        fields = {k: v for k, v in raw.items() if k not in _ENTRY_KEYS}
        if "data" in raw:
            if fields:
                self.error(line, f"has an explicit 'data:' and also data fields {sorted(fields)}; put them under 'data:'", label)
                return
            data = raw["data"]
        else:
            data = fields
        embedded = embed_files(data, self.path.parent, self.root)
        if kind == "fs.embed" and isinstance(embedded.data, dict) and "directory" in embedded.data:
            folder = embed_directory(embedded.data, self.path.parent, self.root)
            embedded.data, embedded.reads, embedded.errors = (folder.data, embedded.reads | folder.reads,
                                                             embedded.errors + folder.errors)
        # Recorded even when a read failed, so that creating the missing file reloads this one.
        for read in embedded.reads:
            self.result.reads.setdefault(str(read), set()).add(f"{ns}:{name}")
        for message in embedded.errors:
            self.error(line, message, label)
        if embedded.errors:
            return
        try:
            entry = Entry(f"{ns}:{name}", kind, {**file_meta, **meta}, embedded.data,
                          SourceLocation(self.result.file, line))
        except (InvalidEntryId, ValueError) as e:
            self.error(line, str(e))
            return
        self.result.entries.append(entry)


def _key_line(node: yaml.Node, key: str) -> int:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return line_of(k)
    return line_of(node)

