"""``file://`` references in entry data: replaced by the referenced file's text."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "file://"


@dataclass
class Embedding:
    data: Any
    reads: set[Path] = field(default_factory=set)  # files read or looked for (watched for changes)
    errors: list[str] = field(default_factory=list)


def embed_files(data: Any, base_dir: Path, root: Path) -> Embedding:
    """Replace every ``file://rel`` (relative to ``base_dir``, must stay inside ``root``)
    and ``file:///abs`` string anywhere in ``data``.
    """
    result = Embedding(None)
    result.data = _walk(data, base_dir, root.resolve(), result)
    return result


def _walk(value: Any, base_dir: Path, root: Path, out: Embedding) -> Any:
    if isinstance(value, str):
        return _read(value, base_dir, root, out) if value.startswith(PREFIX) else value
    if isinstance(value, dict):
        return {k: _walk(v, base_dir, root, out) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, base_dir, root, out) for v in value]
    return value


def _read(ref: str, base_dir: Path, root: Path, out: Embedding) -> str:
    target = ref[len(PREFIX):]
    if not target:
        out.errors.append(f"{ref!r}: empty path")
        return ref
    if target.startswith("/"):
        path = Path(target).resolve()
    else:
        path = (base_dir / target).resolve()
        if not path.is_relative_to(root):
            out.errors.append(f"{ref}: refused, the path leaves the app folder {root} (resolves to {path})")
            return ref
    out.reads.add(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        out.errors.append(f"{ref}: file not found ({path})")
    except (OSError, UnicodeDecodeError) as e:
        out.errors.append(f"{ref}: cannot read {path}: {e}")
    return ref
