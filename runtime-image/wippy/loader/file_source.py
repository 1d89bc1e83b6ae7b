"""An app folder as a live source of registry entries (``wippy run``).

Loads every definition file, applies them, then watches the folder: each batch of
changes reloads the files concerned (definition files, and those whose entries
embed a changed file through ``file://``) and syncs the difference. A file that
does not load at all (bad YAML) changes nothing until it is fixed: its previous
entries stay. An entry that does not load or is refused (and every entry of the
change depending on it) keeps its previous version; the other entries load.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from watchfiles import awatch

from wippy.loader.definition import FileResult, load_file
from wippy.loader.overrides import Override, OverrideError, apply_overrides
from wippy.loader.tree import YAML_SUFFIXES, combine, discover, is_hidden
from wippy.registry.entry import Entry
from wippy.registry.registry import Registry
from wippy.registry.source import SyncedSource, SyncReport

log = logging.getLogger("wippy.loader")


class FileSource:
    def __init__(
        self,
        root: str | Path,
        *,
        on_error: Callable[[str], None] | None = None,
        debounce: float = 0.1,
        overrides: Sequence[Override] = (),
        origin: str = "file",
    ):
        """``debounce``: seconds of quiet that end a batch of file changes.
        Files outside ``root`` that entries embed with ``file:///abs`` are read
        at each reload but not watched.
        """
        self.root = Path(root).resolve()
        self.origin = origin
        self._on_error = on_error or (lambda msg: log.error("%s", msg))
        self._debounce = debounce
        self._overrides = list(overrides)
        self._results: dict[str, FileResult] = {}  # every YAML file under root, last load
        self._good_ids: dict[str, list[str]] = {}  # definition file -> ids of its last good load
        self._sync: SyncedSource | None = None
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self, registry: Registry) -> SyncReport:
        """Watch the folder, then apply its entries; returns the initial sync's report."""
        if self._sync is not None:
            raise RuntimeError("FileSource already started")
        self._sync = SyncedSource(registry, origin=self.origin, owns=self._owns, on_error=self._on_error)
        # Watch first so that nothing written during the initial load is missed.
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._watch(ready), name=f"wippy-watch:{self.root}")
        await ready.wait()
        return await self.reload()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def reload(self, changed: Iterable[Path] | None = None) -> SyncReport:
        """Reload changed files (all when ``changed`` is None) and sync the registry."""
        if self._sync is None:
            raise RuntimeError("FileSource not started")
        async with self._lock:
            if not self.root.is_dir():
                # Most likely a checkout in progress: deleting every entry would be worse than waiting.
                report = SyncReport()
                self._sync.report(report, f"{self.root}: app folder is missing; keeping the current entries")
                return report
            # the scan reads a local folder synchronously anyway (it is quick; watch events are batched)
            self._refresh(None if changed is None else {str(Path(p).resolve()) for p in changed})  # noqa: ASYNC240
            merged = combine(self._results.values())
            report = SyncReport()
            for err in merged.errors:
                self._sync.report(report, str(err))
            desired: dict[str, Entry] = {}
            for file, ids in merged.files.items():
                if file not in merged.failed:
                    desired.update((i, merged.entries[i]) for i in ids)
            for file in sorted(merged.failed):
                for entry_id in self._kept_ids(file):
                    kept = self._sync.registry.get(entry_id)
                    if kept is not None and entry_id not in desired:
                        desired[entry_id] = kept
            # an entry that did not load keeps its last good version, like a broken file
            for entry_id in merged.refused:
                kept = self._sync.registry.get(entry_id)
                if kept is not None and self._owns(kept):
                    desired.setdefault(entry_id, kept)
            for override in self._overrides:
                try:
                    desired = apply_overrides(desired, [override])
                except OverrideError as e:
                    self._sync.report(report, str(e))
            await self._sync.sync(desired, report, {i: e.message for i, e in merged.refused.items()})
            good: dict[str, list[str]] = {}
            for file, ids in merged.files.items():
                if file not in merged.failed:
                    good[file] = ids + [i for i, e in merged.refused.items() if e.file == file and i in desired]
                elif file in self._good_ids:
                    good[file] = self._good_ids[file]
            self._good_ids = good
            return report

    def _refresh(self, changed: set[str] | None) -> None:
        present = {str(p) for p in discover(self.root)}
        for gone in set(self._results) - present:
            del self._results[gone]
        if changed is None:
            stale = present
        else:
            embedders = {r.file for r in self._results.values() if changed & r.reads.keys()}
            stale = {f for f in present if f not in self._results or f in changed or f in embedders}
        for file in stale:
            self._results[file] = load_file(Path(file), self.root)

    def _kept_ids(self, file: str) -> list[str]:
        """What a broken file keeps: the ids it last loaded with, or (first load after
        a restart) the registry entries recorded as coming from it.
        """
        if file in self._good_ids:
            return self._good_ids[file]
        assert self._sync is not None
        return [e.id for e in self._sync.registry.entries() if e.source and e.source.file == file]

    def _owns(self, entry: Entry) -> bool:
        return entry.source is not None and entry.source.file.startswith(str(self.root) + os.sep)

    def _relevant(self, path: Path) -> bool:
        text = str(path)
        if any(text in r.reads for r in self._results.values()):
            return True
        if is_hidden(path, self.root):
            return False
        if text.endswith(YAML_SUFFIXES) or path.is_dir():
            return True
        # A removed or renamed directory that held definition files.
        return any(f.startswith(text + os.sep) for f in self._results)

    async def _watch(self, ready: asyncio.Event) -> None:
        changes = awatch(
            self.root, stop_event=self._stop, step=max(1, int(self._debounce * 1000)), recursive=True
        )
        # The first step of the generator opens the OS watches; once it has run, we are watching.
        pending = asyncio.ensure_future(changes.__anext__())
        await asyncio.sleep(0)
        ready.set()
        try:
            while True:
                try:
                    batch = await pending
                except StopAsyncIteration:
                    return
                pending = asyncio.ensure_future(changes.__anext__())
                paths = {Path(p) for _, p in batch}
                if any(self._relevant(p) for p in paths):
                    try:
                        await self.reload(paths)
                    except Exception:
                        log.exception("reloading %s failed", self.root)
        finally:
            if not pending.done():
                self._stop.set()
                await asyncio.gather(pending, return_exceptions=True)
            await changes.aclose()
