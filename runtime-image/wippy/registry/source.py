"""Keeping the registry in step with an outside source of entries (files, custom resources).

A source states the entries it wants; ``SyncedSource`` turns that into a changeset
against what the registry holds from that source. When the whole changeset is
refused, it is applied again without the entries the refusal names and every entry
depending on them, until the rest lands: one entry at a time, each refused entry
reported with its file, line and reason, and each dependent named as such.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from wippy.registry.changeset import Op, diff
from wippy.registry.entry import Entry
from wippy.registry.errors import ApplyError, Conflict
from wippy.registry.registry import Registry

log = logging.getLogger("wippy.registry.source")

_CONFLICT_RETRIES = 5


@dataclass
class SyncReport:
    versions: list[int] = field(default_factory=list)  # versions this sync committed
    errors: list[str] = field(default_factory=list)  # every problem reported through on_error

    @property
    def ok(self) -> bool:
        return not self.errors


class SyncedSource:
    def __init__(
        self,
        registry: Registry,
        *,
        origin: str,
        owns: Callable[[Entry], bool],
        on_error: Callable[[str], None] | None = None,
    ):
        """``owns`` tells which registry entries this source manages: those it may
        delete when they disappear from the desired state. Entries it declares are
        taken over whatever their origin.
        """
        self.registry = registry
        self.origin = origin
        self._owns = owns
        self._on_error = on_error or (lambda msg: log.error("%s", msg))

    def report(self, report: SyncReport, message: str) -> None:
        report.errors.append(message)
        self._on_error(message)

    def current(self, desired: Mapping[str, Entry]) -> dict[str, Entry]:
        """The registry's entries that ``desired`` is compared against."""
        return {e.id: e for e in self.registry.entries() if e.id in desired or self._owns(e)}

    async def sync(self, desired: Mapping[str, Entry], report: SyncReport | None = None,
                   refused: Mapping[str, str] | None = None) -> SyncReport:
        """Bring the registry to ``desired``. ``refused``: ids the source itself could not load
        (already reported, id -> why); changes to entries depending on them are refused too."""
        report = report if report is not None else SyncReport()
        for _ in range(_CONFLICT_RETRIES):
            version = self.registry.version
            refusals: dict[str, str] = {}
            ops = self._without_dependents(diff(self.current(desired), desired), dict(refused or {}), refusals)
            try:
                if ops:
                    report.versions.append(
                        await self.registry.apply(ops, origin=self.origin, expected_version=version)
                    )
            except Conflict:
                continue  # someone else applied meanwhile: recompute against the new head
            except ApplyError as e:
                await self._apply_entry_by_entry(ops, e, dict(refused or {}), refusals, report)
            for message in refusals.values():
                self.report(report, message)
            return report
        self.report(report, f"{self.origin}: registry kept changing; gave up after {_CONFLICT_RETRIES} attempts")
        return report

    async def _apply_entry_by_entry(self, ops: list[Op], error: ApplyError | None, refused: dict[str, str],
                                    refusals: dict[str, str], report: SyncReport) -> None:
        """Land ``ops`` less what the refusals name and what depends on it; ``refusals`` gets a
        message per refused id. Each round drops what a refusal names (every invalid entry at
        once, else the first entry a handler refuses), so a round per entry at most. A handler
        may refuse an entry for want of one that lands later in the same pass: what a handler
        refused is tried again while the others make progress."""
        invalid: set[str] = set()  # refused for what they are: trying again cannot help
        while True:
            landed = False
            remaining = ops
            while error is not None:
                pending = {op.id for op in remaining}
                named = [(err.entry_id, err) for err in error.errors
                         if err.entry_id is not None and err.entry_id in pending]
                if not named:
                    refusals[""] = str(error)  # about no one entry: nothing more can land
                    return
                for entry_id, err in named:
                    refused[entry_id] = err.message
                    refusals[entry_id] = str(err)
                    if error.kind not in ("Rejected", "Internal"):
                        invalid.add(entry_id)
                remaining = self._without_dependents([op for op in remaining if op.id not in refused], refused, refusals)
                error = None
                if remaining:
                    try:
                        report.versions.append(await self.registry.apply(remaining, origin=self.origin))
                        landed = True
                    except ApplyError as e:
                        error = e
            again = [op for op in ops if op.id in refusals and op.id not in invalid]
            if not landed or not again:
                return
            for op in again:
                del refused[op.id], refusals[op.id]
            ops = again
            try:
                report.versions.append(await self.registry.apply(ops, origin=self.origin))
                return
            except ApplyError as e:
                error = e

    def _without_dependents(self, ops: list[Op], refused: dict[str, str], refusals: dict[str, str]) -> list[Op]:
        """``ops`` less those whose entry depends, directly or through others, on a refused id;
        each one dropped joins ``refused`` and gets its message in ``refusals``."""
        if not refused:
            return ops
        kept = list(ops)
        changed = True
        while changed:
            changed = False
            for op in list(kept):
                if op.action == "delete":
                    continue
                broken = sorted(self.registry.references(op.entry) & refused.keys())
                if broken:
                    kept.remove(op)
                    refused[op.id] = f"depends on {broken[0]}"
                    where = f"{op.entry.source}: " if op.entry.source else ""
                    refusals[op.id] = (f"{where}entry {op.id}: refused: depends on {', '.join(broken)}, "
                                       f"which {'was' if len(broken) == 1 else 'were'} refused")
                    changed = True
        return kept
