"""Python side of the `archive` module (wippy.archives). Every archive operation runs in a
worker thread; objects handed to Lua are handles into this engine's tables."""
from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from typing import Any

from ..archives import CORRUPT, FORMATS, SPOOL, Limits, Reader, Writer, corrupt, join_dest, safe_name
from ..data import Resources
from ..engine.errors import INTERNAL, INVALID, PERMISSION_DENIED, WippyError


def install(engine):
    ids = itertools.count(1)
    readers: dict[int, Reader] = {}
    writers: dict[int, Writer] = {}
    streams: dict[int, Any] = {}      # entry readers handed out ((reader, file)), and spools being filled
    walks: dict[int, Any] = {}        # reader handle -> (generator, current stream handle)
    loop = asyncio.get_running_loop

    async def thread(fn, *args):
        return await loop().run_in_executor(None, fn, *args)

    def opts_of(opts) -> dict:
        o = engine.py(opts) if opts is not None else {}
        return {} if o == [] else o

    def fs_path(fid, cwd, path, write=False):
        f = Resources.of(engine.node).fs(fid)
        if write:
            f.writable()
        return f.path(path, cwd or "/")

    def data_of(data, latin1) -> bytes:
        return data.encode("latin-1" if latin1 else "utf-8")

    def new_reader(fileobj, fmt, limits, name, random):
        try:
            return Reader(fileobj, fmt, limits, name, random)
        except BaseException:
            fileobj.close()
            raise

    async def open_path(fid, cwd, path, opts, random):
        o = opts_of(opts)
        p = fs_path(fid, cwd, path)
        try:
            f = await thread(open, p, "rb")
        except OSError as e:
            raise WippyError(PERMISSION_DENIED, f"cannot read {path}: {e.strerror}") from None
        r = await thread(new_reader, f, o.get("format"), Limits.from_opts(o), str(path), random)
        h = next(ids)
        readers[h] = r
        return h

    def spool_new():
        h = next(ids)
        streams[h] = tempfile.SpooledTemporaryFile(SPOOL)
        return h

    async def spool_feed(h, data, latin1):
        s = streams[h]
        await thread(s.write, data_of(data, latin1))
        return True

    async def open_spool(h, opts, random):
        o = opts_of(opts)
        s = streams.pop(h)
        s.seek(0)
        r = await thread(new_reader, s, o.get("format"), Limits.from_opts(o), "", random)
        rh = next(ids)
        readers[rh] = r
        return rh

    def reader(h) -> Reader:
        r = readers.get(h)
        if r is None:
            raise WippyError(INVALID, "archive reader is closed")
        return r

    def entries(h):
        return engine.to_lua(reader(h).entries())

    def stat(h, name):
        r = reader(h)
        return engine.to_lua(r.meta(r.info(name)))

    async def read(h, name):
        return await thread(reader(h).read, name)

    async def stream(h, name):
        r = reader(h)
        f = await thread(r.open_entry, r.info(name))
        sh = next(ids)
        streams[sh] = (r, f)
        return sh

    async def sread(sh, n):
        item = streams.get(sh)
        if item is None:
            raise WippyError(INTERNAL, "entry stream is closed (or the walk moved past it)")
        r, f = item
        size = n if isinstance(n, int) and n > 0 else r.limits.buffer_bytes
        try:
            data = await thread(f.read, size)
        except (*CORRUPT, ValueError) as e:
            raise corrupt(e) from None
        r.count(len(data))
        return data or None

    def sclose(sh):
        item = streams.pop(sh, None)
        if isinstance(item, tuple):
            item[1].close()
        return True

    async def extract(h, name, fid, cwd, dest):
        r = reader(h)
        info = r.info(name)
        target = fs_path(fid, cwd, dest or safe_name(name), write=True)
        await thread(r.extract, info, str(target))
        return True

    def walk_next(h):
        r = reader(h)
        gen, cur = walks.get(h, (None, None))
        if gen is None:
            gen = r.walk()
        if cur is not None:
            sclose(cur)
        try:
            meta, info = next(gen)
        except StopIteration:
            walks.pop(h, None)
            return None
        sh = next(ids)
        streams[sh] = (r, r.open_entry(info))
        walks[h] = (gen, sh)
        return engine.to_lua({"meta": meta, "stream": sh})

    def close(h):
        r = readers.pop(h, None)
        _, cur = walks.pop(h, (None, None))
        if cur is not None:
            sclose(cur)
        if r is not None:
            r.close()
        return True

    def release(h):
        """A reader or writer its process left open when it ended."""
        if h in readers:
            r = readers[h]
            for sh, item in list(streams.items()):
                if isinstance(item, tuple) and item[0] is r:
                    sclose(sh)
            return close(h)
        w = writers.pop(h, None)
        if w is not None:
            def finish():
                try:
                    w.close()
                finally:
                    w.f.close()
            # errors have no one left to report to (the process is gone)
            loop().run_in_executor(None, finish).add_done_callback(lambda f: f.exception())
        return True

    # ---------------------------------------------------------------- writing
    async def create_path(fid, cwd, path, opts):
        o = opts_of(opts)
        fmt = o.get("format") or next((f for f in ("tar.gz", "tar.zst", "zip", "tar") if str(path).endswith("." + f)), "zip")
        p = fs_path(fid, cwd, path, write=True)
        try:
            f = await thread(open, p, "wb")
        except OSError as e:
            raise WippyError(PERMISSION_DENIED, f"cannot write {path}: {e.strerror}") from None
        w = Writer(f, fmt, Limits.from_opts(o))
        h = next(ids)
        writers[h] = w
        return h

    def create_spool(opts):
        o = opts_of(opts)
        w = Writer(tempfile.SpooledTemporaryFile(SPOOL), o.get("format") or "zip", Limits.from_opts(o))
        h = next(ids)
        writers[h] = w
        return h

    def writer(h) -> Writer:
        w = writers.get(h)
        if w is None:
            raise WippyError(INVALID, "archive writer is closed")
        return w

    async def add_bytes(h, name, data, latin1, opts):
        import io
        raw = data_of(data, latin1)
        await thread(writer(h).add, name, io.BytesIO(raw), len(raw), opts_of(opts))
        return True

    async def add_spool(h, name, sh, opts):
        s = streams.pop(sh)
        s.seek(0)
        await thread(writer(h).add, name, s, None, opts_of(opts))
        s.close()
        return True

    async def add_file(h, name, fid, cwd, path, opts):
        p = fs_path(fid, cwd, path)

        o = opts_of(opts)

        def go():
            with open(p, "rb") as f:
                writer(h).add(name, f, os.fstat(f.fileno()).st_size, o)
        try:
            await thread(go)
        except OSError as e:
            raise WippyError(PERMISSION_DENIED, f"cannot read {path}: {e.strerror}") from None
        return True

    async def add_dir(h, name):
        await thread(writer(h).add_dir, name)
        return True

    async def wclose(h):
        w = writers.pop(h, None)
        if w is None:
            return True
        await thread(w.close)
        if isinstance(w.f, tempfile.SpooledTemporaryFile):
            w.f.seek(0)
            sh = next(ids)
            streams[sh] = w.f      # drained by the Lua side into its destination stream
            return sh
        w.f.close()
        return True

    async def drain(sh, n):
        s = streams.get(sh)
        if s is None:
            raise WippyError(INTERNAL, "stream is closed")
        data = await thread(s.read, n)
        if not data:
            streams.pop(sh, None)
            s.close()
            return None
        return data

    return {"formats": lambda: engine.to_lua(list(FORMATS)), "open_path": open_path, "spool_new": spool_new,
            "spool_feed": spool_feed, "open_spool": open_spool, "entries": entries, "stat": stat, "read": read,
            "stream": stream, "sread": sread, "sclose": sclose, "extract": extract, "walk_next": walk_next,
            "close": close, "release": release, "create_path": create_path, "create_spool": create_spool, "add_bytes": add_bytes,
            "add_spool": add_spool, "add_file": add_file, "add_dir": add_dir, "wclose": wclose, "drain": drain,
            "join_dest": lambda prefix, name, strip: join_dest(prefix or "", name, int(strip or 0))}
