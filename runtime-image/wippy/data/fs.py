"""Filesystems behind `fs.directory` and `fs.embed` entries: every path is resolved inside the
root (`..` and symlinks cannot leave it)."""
from __future__ import annotations

import base64
import os
import tempfile
import stat as _stat
from pathlib import Path

from ..engine.errors import WippyError, INVALID, NOT_FOUND, PERMISSION_DENIED, ALREADY_EXISTS


class DirectoryFS:
    def __init__(self, entry_id: str, m, base_dir: Path | None):
        root = Path(m.directory).expanduser()
        if not root.is_absolute():
            root = (base_dir or Path.cwd()) / root
        self.mode = m.mode
        if not root.exists():
            if not m.auto_init:
                raise WippyError(INVALID, f"directory {root} does not exist (set auto_init: true)")
            root.mkdir(parents=True, mode=self.mode)
        if not root.is_dir():
            raise WippyError(INVALID, f"{root} is not a directory")
        self.entry_id = entry_id
        self.root = root.resolve()
        self.readonly = m.readonly

    def path(self, rel: str, cwd: str = "/") -> Path:
        if not isinstance(rel, str) or rel == "":
            raise WippyError(INVALID, "fs: path must be a non-empty string")
        if "\x00" in rel:
            raise WippyError(INVALID, "fs: path contains a NUL byte")
        joined = os.path.normpath(os.path.join("/", cwd, rel))
        full = (self.root / joined.lstrip("/")).resolve()
        if full != self.root and self.root not in full.parents:
            raise WippyError(PERMISSION_DENIED, f"fs: path {rel!r} is outside of {self.entry_id}")
        return full

    def rel(self, full: Path) -> str:
        r = full.relative_to(self.root).as_posix()
        return "/" if r == "." else "/" + r

    def writable(self):
        if self.readonly:
            raise WippyError(PERMISSION_DENIED, f"fs {self.entry_id} is read-only")


class EmbeddedFS(DirectoryFS):
    """An fs.embed entry's files, laid out read-only in a private folder of its own (removed with it)."""

    def __init__(self, entry_id: str, m):
        self._tmp = tempfile.TemporaryDirectory(prefix="wippy-embed-")
        root = Path(self._tmp.name)
        for rel, content in m.files.items():
            data = content.encode() if isinstance(content, str) else base64.b64decode(content.base64)
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        self.entry_id, self.root, self.readonly, self.mode = entry_id, root.resolve(), True, 0o755

    def close(self) -> None:
        self._tmp.cleanup()

    retire = close


def wrap_os_error(e: OSError, path: str) -> WippyError:
    if isinstance(e, FileNotFoundError):
        return WippyError(NOT_FOUND, f"fs: {path}: no such file or directory")
    if isinstance(e, FileExistsError):
        return WippyError(ALREADY_EXISTS, f"fs: {path}: already exists")
    if isinstance(e, IsADirectoryError):
        return WippyError(INVALID, f"fs: {path}: is a directory")
    if isinstance(e, NotADirectoryError):
        return WippyError(INVALID, f"fs: {path}: not a directory")
    if isinstance(e, PermissionError):
        return WippyError(PERMISSION_DENIED, f"fs: {path}: permission denied")
    return WippyError(INVALID, f"fs: {path}: {e.strerror or e}")


def stat_info(p: Path, name: str) -> dict:
    st = p.stat()
    return {"name": name, "size": st.st_size, "mode": _stat.S_IMODE(st.st_mode), "modified": int(st.st_mtime),
            "is_dir": _stat.S_ISDIR(st.st_mode), "type": "directory" if _stat.S_ISDIR(st.st_mode) else "file"}
