"""Python side of the `fs` module: file operations confined to an fs.directory root."""
from __future__ import annotations

import asyncio
import itertools
import os
import shutil

from ..data import Resources
from ..data.fs import stat_info, wrap_os_error
from ..engine.errors import WippyError, INVALID


def _bytes(data, latin1: bool = False) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str) and latin1:
        return data.encode("latin-1")   # binary Lua data (see pybytes in fs.lua)
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:
            return data.encode("utf-8", "surrogateescape")
    if isinstance(data, (int, float)):
        return str(data).encode()
    raise WippyError(INVALID, "fs: data must be a string")


def install(engine):
    res = lambda: Resources.of(engine.node)  # noqa: E731
    files: dict[int, tuple] = {}
    seq = itertools.count(1)

    def fs(fid):
        return res().fs(fid)

    async def io(fn, path):
        try:
            return await asyncio.to_thread(fn)
        except OSError as e:
            raise wrap_os_error(e, path) from None

    def get(fid):
        fs(fid)
        return True

    async def readfile(fid, cwd, path):
        p = fs(fid).path(path, cwd)
        return await io(p.read_bytes, path)

    async def writefile(fid, cwd, path, data, mode, latin1=False):
        f = fs(fid)
        f.writable()
        p = f.path(path, cwd)
        b = _bytes(data, latin1)
        if mode not in (None, "w", "a", "wx"):
            raise WippyError(INVALID, "fs.writefile: mode must be 'w', 'a' or 'wx'")

        def w():
            # wx: created only if absent, atomically (O_EXCL): ALREADY_EXISTS otherwise
            with open(p, {"a": "ab", "wx": "xb"}.get(mode, "wb")) as fh:
                fh.write(b)
        await io(w, path)
        return True

    async def exists(fid, cwd, path):
        p = fs(fid).path(path, cwd)
        return await asyncio.to_thread(p.exists)

    async def isdir(fid, cwd, path):
        p = fs(fid).path(path, cwd)
        return await asyncio.to_thread(p.is_dir)

    async def stat(fid, cwd, path):
        p = fs(fid).path(path, cwd)
        return engine.to_lua(await io(lambda: stat_info(p, p.name), path))

    async def mkdir(fid, cwd, path, parents):
        f = fs(fid)
        f.writable()
        p = f.path(path, cwd)
        await io(lambda: p.mkdir(mode=f.mode, parents=bool(parents), exist_ok=bool(parents)), path)
        return True

    async def remove(fid, cwd, path, recursive):
        f = fs(fid)
        f.writable()
        p = f.path(path, cwd)
        if p == f.root:
            raise WippyError(INVALID, "fs.remove: cannot remove the root")

        def rm():
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p) if recursive else p.rmdir()
            else:
                p.unlink()
        await io(rm, path)
        return True

    async def readdir(fid, cwd, path):
        p = fs(fid).path(path, cwd)

        def ls():
            return [{"name": c.name, "type": "directory" if c.is_dir() else "file", "is_dir": c.is_dir()}
                    for c in sorted(p.iterdir())]
        return engine.to_lua(await io(ls, path))

    def resolve_dir(fid, cwd, path):
        f = fs(fid)
        p = f.path(path, cwd)
        if not p.is_dir():
            raise WippyError(INVALID, f"fs.chdir: {path}: not a directory")
        return f.rel(p)

    async def open_(fid, cwd, path, mode):
        f = fs(fid)
        mode = mode or "r"
        if mode not in ("r", "w", "a", "r+", "w+", "a+"):
            raise WippyError(INVALID, f"fs.open: bad mode {mode!r}")
        if mode != "r":
            f.writable()
        p = f.path(path, cwd)
        fh = await io(lambda: open(p, mode + "b"), path)
        h = next(seq)
        files[h] = (fh, path)
        return h

    def _file(h):
        item = files.get(h)
        if item is None:
            raise WippyError(INVALID, "file is closed")
        return item

    async def fread(h, n):
        fh, path = _file(h)
        data = await io(lambda: fh.read(int(n)) if n is not None and n != "*a" else fh.read(), path)
        return data if data else None

    async def fwrite(h, data, latin1=False):
        fh, path = _file(h)
        b = _bytes(data, latin1)
        await io(lambda: fh.write(b), path)
        return len(b)

    async def fseek(h, whence, offset):
        fh, path = _file(h)
        w = {"set": 0, "cur": 1, "end": 2}.get(whence or "cur")
        if w is None:
            raise WippyError(INVALID, "seek: whence must be 'set', 'cur' or 'end'")
        return await io(lambda: fh.seek(int(offset or 0), w), path)

    async def fsync(h):
        fh, path = _file(h)
        def sync() -> None:
            fh.flush()
            os.fsync(fh.fileno())
        await io(sync, path)
        return True

    async def fflush(h):
        fh, path = _file(h)
        await io(fh.flush, path)
        return True

    def fclose(h):
        item = files.pop(h, None)
        if item is None:
            return False
        item[0].close()
        return True

    return {"get": get, "readfile": readfile, "writefile": writefile, "exists": exists, "isdir": isdir,
            "stat": stat, "mkdir": mkdir, "remove": remove, "readdir": readdir, "resolve_dir": resolve_dir,
            "open": open_, "fread": fread, "fwrite": fwrite, "fseek": fseek, "fsync": fsync, "fflush": fflush,
            "fclose": fclose}
