"""``file://`` references in entry data: replaced by the referenced file's text."""

from __future__ import annotations

import base64
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


def embed_directory(data: dict, base_dir: Path, root: Path) -> Embedding:
    """An fs.embed entry's ``directory`` (inside the app folder) read into its ``files``:
    UTF-8 text as is, other content as ``{base64: ...}``; hidden files are left out."""
    out = Embedding(dict(data))
    rel = out.data.pop("directory")
    folder = (base_dir / str(rel)).resolve()
    if not folder.is_relative_to(root.resolve()):
        out.errors.append(f"directory {rel}: refused, the path leaves the app folder {root}")
        return out
    if not folder.is_dir():
        out.reads.add(folder)
        out.errors.append(f"directory {rel}: not found ({folder})")
        return out
    files = dict(out.data.get("files") or {})
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if path.is_dir() or any(part.startswith(".") for part in name.split("/")):
            continue
        out.reads.add(path)
        raw = path.read_bytes()
        try:
            files[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            files[name] = {"base64": base64.b64encode(raw).decode()}
    out.data["files"] = files
    return out
