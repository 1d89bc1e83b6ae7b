"""http.static: files from a directory under a URL prefix, confined to that directory."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from aiohttp import web


class StaticMount:
    """`directory` is looked up per request: an fs entry may change or appear after the mount."""

    def __init__(self, prefix: str, directory: Callable[[], Path | None], *, index: str = "index.html",
                 spa: bool = False, cache: str | None = None):
        self.prefix = prefix.rstrip("/")
        self.directory = directory
        self.index, self.spa, self.cache = index, spa, cache

    def _file(self, root: Path, path: str) -> Path | None:
        rel = path[len(self.prefix):].lstrip("/")
        target = (root / rel).resolve()
        if target != root and root not in target.parents:
            return None   # '..' or a symlink leading outside the directory
        if target.is_dir():
            target = target / self.index
        return target if target.is_file() else None

    def response(self, method: str, path: str) -> web.StreamResponse:
        if method not in ("GET", "HEAD"):
            return web.Response(status=405, text="method not allowed\n", headers={"Allow": "GET, HEAD"})
        root = self.directory()
        if root is None or not root.is_dir():
            return web.Response(status=503, text="static directory is not available\n")
        root = root.resolve()
        target = self._file(root, path)
        if target is None and self.spa:
            target = self._file(root, self.prefix + "/" + self.index)
        if target is None:
            return web.Response(status=404, text="not found\n")
        resp = web.FileResponse(target)
        if self.cache:
            resp.headers["Cache-Control"] = self.cache
        return resp
