"""A folder of definition files into one set of entries."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from wippy.loader.definition import FileResult, load_file
from wippy.loader.errors import LoadError
from wippy.registry.entry import Entry

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass
class LoadResult:
    entries: dict[str, Entry] = field(default_factory=dict)
    errors: list[LoadError] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)  # definition file -> ids it contributed
    reads: dict[str, set[str]] = field(default_factory=dict)  # embedded file -> ids embedding it
    failed: set[str] = field(default_factory=set)  # files that failed as a whole (entries unknown)
    refused: dict[str, LoadError] = field(default_factory=dict)  # entries with a problem, by id

    @property
    def ok(self) -> bool:
        return not self.errors


def is_hidden(path: Path, root: Path) -> bool:
    """Hidden files and anything under a hidden directory (``.wippy/``, ``.git/``)."""
    try:
        parts = path.relative_to(root).parts
    except ValueError:
        return False
    return any(p.startswith(".") for p in parts)


def discover(root: Path) -> list[Path]:
    """YAML files under ``root``, sorted, skipping hidden files and directories."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath, f) for f in filenames if f.endswith(YAML_SUFFIXES) and not f.startswith(".")]
    return sorted(found)


def combine(results: Iterable[FileResult]) -> LoadResult:
    """Merge per-file results; an id defined twice is kept from the first file
    (in path order) and the second definition is reported.
    """
    out = LoadResult()
    defined_in: dict[str, Entry] = {}
    for r in sorted(results, key=lambda r: r.file):
        if not r.is_definition:
            continue
        out.errors += r.errors
        if r.broken:
            out.failed.add(r.file)
        for err in r.errors:
            if err.entry_id and not err.whole_file:
                out.refused.setdefault(err.entry_id, err)
        ids = out.files.setdefault(r.file, [])
        for entry in r.entries:
            first = defined_in.get(entry.id)
            if first is not None:
                line = entry.source.line if entry.source else None
                out.errors.append(LoadError(r.file, line, entry.id, f"duplicate entry id, already defined at {first.source}"))
                continue
            defined_in[entry.id] = entry
            out.entries[entry.id] = entry
            ids.append(entry.id)
        for read, ids_reading in r.reads.items():
            out.reads.setdefault(read, set()).update(ids_reading)
    for entry_id in set(out.refused) & out.entries.keys():
        del out.refused[entry_id]  # defined well elsewhere: that definition is the one (a duplicate, reported)
    return out


def load_tree(root: Path) -> LoadResult:
    root = Path(root).resolve()
    if not root.is_dir():
        out = LoadResult()
        out.errors.append(LoadError(str(root), None, None, "not a directory"))
        return out
    return combine(load_file(path, root) for path in discover(root))
