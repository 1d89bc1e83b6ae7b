"""Zip and tar archives (tar, tar.gz, tar.zst) read and written with bounded memory: entries
are streamed through buffers, never materialized unless asked for (up to a cap)."""
from __future__ import annotations

import io
import os
import posixpath
import re
import stat as statmod
import tarfile
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass

import zstandard

from .engine.errors import INVALID, NOT_FOUND, UNAVAILABLE, WippyError

FORMATS = ["zip", "tar", "tar.gz", "tar.zst"]
SPOOL = 1024 * 1024          # stream sources and stream destinations spill to disk above this
# What the codecs raise on a damaged archive: all reported as INVALID "corrupt or truncated"
CORRUPT = (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error, zstandard.ZstdError)
# What extract and extract_all write to disk when max_total_bytes is not given: 2 GiB (the
# default for reading) is more disk than a shared volume can give to one call of one process
EXTRACT_DEFAULT = 256 << 20


def corrupt(e: BaseException) -> WippyError:
    return WippyError(INVALID, f"corrupt or truncated archive: {e}")


@dataclass
class Limits:
    max_entries: int = 100_000
    max_total_bytes: int = 2 << 30
    max_file_bytes: int = 1 << 30
    max_inline_bytes: int = 16 << 20
    buffer_bytes: int = 64 << 10
    total_given: bool = False     # max_total_bytes was set by the caller (else extracts stop at EXTRACT_DEFAULT)

    @classmethod
    def from_opts(cls, opts: dict) -> "Limits":
        lim = cls()
        for name in ("max_entries", "max_total_bytes", "max_file_bytes", "max_inline_bytes", "buffer_bytes"):
            if name in opts:
                v = opts[name]
                if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
                    raise WippyError(INVALID, f"{name} must be a positive integer")
                setattr(lim, name, v)
        lim.total_given = "max_total_bytes" in opts
        return lim


def sniff(head: bytes, name: str = "") -> str | None:
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:4] == b"\x28\xb5\x2f\xfd":
        return "tar.zst"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    for ext, fmt in ((".tar.gz", "tar.gz"), (".tgz", "tar.gz"), (".tar.zst", "tar.zst"), (".zip", "zip"), (".tar", "tar")):
        if name.endswith(ext):
            return fmt
    return None


def safe_name(name: str) -> str:
    """An entry name as a relative path, or Invalid for names that would leave the target."""
    n = name.replace("\\", "/")
    if n.startswith("/") or re.match(r"^[A-Za-z]:", n) or n.startswith("//"):
        raise WippyError(INVALID, f"entry name {name!r} is absolute")
    parts = [p for p in n.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise WippyError(INVALID, f"entry name {name!r} leaves the destination")
    return "/".join(parts)


def _zst_reader(f):
    return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)


class Reader:
    """An archive opened for reading. ``random`` readers (zip, tar on a seekable source)
    support read/stream/extract by name; stream-only formats are walked in order."""

    def __init__(self, fileobj, fmt: str | None, limits: Limits, name: str = "", random: bool = True):
        self.f = fileobj
        self.limits = limits
        head = fileobj.read(512)
        fileobj.seek(0)
        fmt = fmt or sniff(head, name)
        if fmt not in FORMATS:
            raise WippyError(INVALID, f"unknown archive format{' of ' + name if name else ''}")
        self.format = fmt
        self.total = 0
        self.extracted = 0      # bytes extract has written
        self.zip = self.tar = None
        try:
            if fmt == "zip":
                self.zip = zipfile.ZipFile(fileobj)
                infos = self.zip.infolist()
            elif fmt == "tar":
                self.tar = tarfile.open(fileobj=fileobj, mode="r:")
                try:
                    infos = self._tar_members()
                except WippyError:
                    self.tar.close()
                    raise
            else:
                if random:
                    raise WippyError(UNAVAILABLE, f"{fmt} archives cannot be read by name: use archive.scan")
                raw = _zst_reader(fileobj) if fmt == "tar.zst" else fileobj
                self.tar = tarfile.open(fileobj=raw, mode="r|gz" if fmt == "tar.gz" else "r|")
                infos = None
        except CORRUPT as e:
            raise corrupt(e) from None
        self.infos = infos
        if infos is not None:
            if len(infos) > limits.max_entries:
                self._close_archives()
                raise WippyError(INVALID, f"archive has more than {limits.max_entries} entries (max_entries)")
            self.by_name = {self._name(i): i for i in infos}

    def _close_archives(self) -> None:
        for a in (self.zip, self.tar):
            if a is not None:
                a.close()

    def _tar_members(self):
        assert self.tar is not None   # called once the tar is open
        out = []
        for m in self.tar:
            out.append(m)
            if len(out) > self.limits.max_entries:
                raise WippyError(INVALID, f"archive has more than {self.limits.max_entries} entries (max_entries)")
        return out

    @staticmethod
    def _name(info) -> str:
        return info.filename if isinstance(info, zipfile.ZipInfo) else (info.name + ("/" if info.isdir() else ""))

    def meta(self, info) -> dict:
        if isinstance(info, zipfile.ZipInfo):
            mode = (info.external_attr >> 16) & 0o7777
            return {"name": info.filename, "size": info.file_size, "compressed_size": info.compress_size,
                    "is_dir": info.is_dir(), "mode": mode or (0o755 if info.is_dir() else 0o644),
                    "modified": int(time.mktime(info.date_time + (0, 0, -1))),
                    "method": "deflate" if info.compress_type == zipfile.ZIP_DEFLATED else
                    "store" if info.compress_type == zipfile.ZIP_STORED else str(info.compress_type),
                    "crc32": info.CRC, "type": "dir" if info.is_dir() else "file"}
        kind = "dir" if info.isdir() else "file" if info.isfile() else "symlink" if info.issym() else "other"
        return {"name": self._name(info), "size": info.size, "compressed_size": info.size, "is_dir": info.isdir(),
                "mode": info.mode, "modified": int(info.mtime), "method": self.format, "crc32": 0, "type": kind}

    def entries(self) -> list[dict]:
        if self.infos is None:
            raise WippyError(UNAVAILABLE, "a stream-only archive has no directory: walk it")
        return [self.meta(i) for i in self.infos]

    def info(self, name: str):
        if self.infos is None:
            raise WippyError(UNAVAILABLE, "a stream-only archive cannot be read by name: walk it")
        i = self.by_name.get(name) or self.by_name.get(name.rstrip("/") + "/")
        if i is None:
            raise WippyError(NOT_FOUND, f"entry {name} not found")
        return i

    def open_entry(self, info):
        size = info.file_size if isinstance(info, zipfile.ZipInfo) else info.size
        if size > self.limits.max_file_bytes:
            raise WippyError(INVALID, f"entry {self._name(info)} is larger than max_file_bytes")
        if isinstance(info, zipfile.ZipInfo):
            if info.is_dir():
                return io.BytesIO(b"")
            assert self.zip is not None   # a ZipInfo comes from the open zip
            return self.zip.open(info)
        assert self.tar is not None   # a TarInfo comes from the open tar
        f = self.tar.extractfile(info)
        return f if f is not None else io.BytesIO(b"")

    def count(self, n: int) -> None:
        self.total += n
        if self.total > self.limits.max_total_bytes:
            raise WippyError(INVALID, "archive output exceeds max_total_bytes")

    def read(self, name: str) -> bytes:
        info = self.info(name)
        size = info.file_size if isinstance(info, zipfile.ZipInfo) else info.size
        if size > self.limits.max_inline_bytes:
            raise WippyError(INVALID, f"entry {name} is larger than max_inline_bytes: use stream() or extract()")
        try:
            with self.open_entry(info) as f:
                data = f.read(self.limits.max_inline_bytes + 1)
        except CORRUPT as e:
            raise corrupt(e) from None
        if len(data) > self.limits.max_inline_bytes:
            raise WippyError(INVALID, f"entry {name} is larger than max_inline_bytes")
        self.count(len(data))
        return data

    def copy_to(self, src, dst) -> int:
        n = 0
        while True:
            try:
                chunk = src.read(self.limits.buffer_bytes)
            except CORRUPT as e:
                raise corrupt(e) from None
            if not chunk:
                return n
            n += len(chunk)
            if n > self.limits.max_file_bytes:
                raise WippyError(INVALID, "entry is larger than max_file_bytes")
            self.count(len(chunk))
            self.extracted += len(chunk)
            if not self.limits.total_given and self.extracted > EXTRACT_DEFAULT:
                raise WippyError(INVALID, f"extracted output exceeds {EXTRACT_DEFAULT} bytes, what extract and "
                                          "extract_all write when max_total_bytes is not given: pass max_total_bytes "
                                          "to allow more")
            dst.write(chunk)

    def extract(self, info, dest_path) -> None:
        name = self._name(info)
        safe_name(name)
        if (isinstance(info, zipfile.ZipInfo) and info.is_dir()) or (not isinstance(info, zipfile.ZipInfo) and info.isdir()):
            os.makedirs(dest_path, exist_ok=True)
            return
        if not isinstance(info, zipfile.ZipInfo) and not info.isfile():
            raise WippyError(INVALID, f"entry {name} is not a regular file")
        os.makedirs(os.path.dirname(dest_path) or ".", exist_ok=True)
        try:
            src = self.open_entry(info)
        except CORRUPT as e:
            raise corrupt(e) from None
        with src, open(dest_path, "wb") as dst:
            self.copy_to(src, dst)

    def walk(self):
        """Entries in archive order, each with an open reader (valid until the next)."""
        if self.infos is not None:
            for i in self.infos:
                yield self.meta(i), i
            return
        n = 0
        assert self.tar is not None   # no index: a streamed tar
        try:
            for m in self.tar:
                n += 1
                if n > self.limits.max_entries:
                    raise WippyError(INVALID, f"archive has more than {self.limits.max_entries} entries (max_entries)")
                yield self.meta(m), m
        except CORRUPT as e:
            raise corrupt(e) from None

    def close(self) -> None:
        self._close_archives()
        self.f.close()


class Writer:
    def __init__(self, fileobj, fmt: str, limits: Limits):
        if fmt not in FORMATS:
            raise WippyError(INVALID, f"unknown archive format {fmt!r}")
        self.f = fileobj
        self.format = fmt
        self.limits = limits
        self.zst = None
        self.zip: zipfile.ZipFile | None = None
        self.tar: tarfile.TarFile | None = None
        if fmt == "zip":
            self.zip = zipfile.ZipFile(fileobj, "w", zipfile.ZIP_DEFLATED)
        else:
            target = fileobj
            if fmt == "tar.zst":
                self.zst = zstandard.ZstdCompressor().stream_writer(fileobj, closefd=False)
                target = self.zst
            if fmt == "tar.gz":
                self.tar = tarfile.open(fileobj=target, mode="w:gz")
            else:
                self.tar = tarfile.open(fileobj=target, mode="w|")
        self.names: set[str] = set()

    def add(self, name: str, src, size: int | None, opts: dict) -> None:
        name = safe_name(name)
        if not name:
            raise WippyError(INVALID, "entry name is empty")
        mode = opts.get("mode", 0o644)
        modified = opts.get("modified", time.time())
        method = opts.get("method", "deflate")
        if method not in ("store", "deflate"):
            raise WippyError(INVALID, "method must be 'store' or 'deflate'")
        if self.zip is not None:
            zi = zipfile.ZipInfo(name, time.localtime(modified)[:6])
            zi.external_attr = (statmod.S_IFREG | mode) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED if method == "deflate" else zipfile.ZIP_STORED
            with self.zip.open(zi, "w", force_zip64=True) as dst:
                self._copy(src, dst)
        elif self.tar is not None:   # one of the two is open
            # tar needs the size first: spool the source (RAM up to SPOOL, then disk)
            if size is None:
                spool = tempfile.SpooledTemporaryFile(SPOOL)
                size = self._copy(src, spool)
                spool.seek(0)
                src = spool
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = size, mode, int(modified)
            self.tar.addfile(ti, src)

    def _copy(self, src, dst) -> int:
        n = 0
        while True:
            chunk = src.read(self.limits.buffer_bytes)
            if not chunk:
                return n
            n += len(chunk)
            if n > self.limits.max_file_bytes:
                raise WippyError(INVALID, "entry is larger than max_file_bytes")
            dst.write(chunk)

    def add_dir(self, name: str) -> None:
        name = safe_name(name)
        if self.zip is not None:
            zi = zipfile.ZipInfo(name + "/")
            zi.external_attr = (statmod.S_IFDIR | 0o755) << 16
            self.zip.writestr(zi, b"")
        elif self.tar is not None:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
            self.tar.addfile(ti)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()
        if self.tar is not None:
            self.tar.close()
        if self.zst is not None:
            self.zst.close()
        self.f.flush()


def join_dest(prefix: str, name: str, strip: int) -> str | None:
    parts = safe_name(name).split("/")
    if strip:
        parts = parts[strip:]
    if not parts or parts == [""]:
        return None
    return posixpath.join(prefix or "", "/".join(parts))


__all__ = ["CORRUPT", "EXTRACT_DEFAULT", "FORMATS", "Limits", "Reader", "Writer", "corrupt", "join_dest", "safe_name",
           "sniff"]
