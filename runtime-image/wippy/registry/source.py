"""Keeping the registry in step with an outside source of entries (files, custom resources).

A source states the entries it wants; ``SyncedSource`` turns that into a changeset
against what the registry holds from that source. When the whole changeset is
refused, it retries group by group (a file, a resource) so that good groups land
and each refusal is reported on its own.
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


def group_by_source_file(op: Op) -> str:
    """Ops belong to the file their entry comes from (a delete: the file it was in)."""
    entry = op.previous if op.action == "delete" and op.previous is not None else op.entry
    return entry.source.file if entry.source else ""


class SyncedSource:
    def __init__(
        self,
        registry: Registry,
        *,
        origin: str,
        owns: Callable[[Entry], bool],
        group_of: Callable[[Op], str] = group_by_source_file,
        on_error: Callable[[str], None] | None = None,
    ):
        """``owns`` tells which registry entries this source manages: those it may
        delete when they disappear from the desired state. Entries it declares are
        taken over whatever their origin.
        """
        self.registry = registry
        self.origin = origin
        self._owns = owns
        self._group_of = group_of
        self._on_error = on_error or (lambda msg: log.error("%s", msg))

    def report(self, report: SyncReport, message: str) -> None:
        report.errors.append(message)
        self._on_error(message)

    def current(self, desired: Mapping[str, Entry]) -> dict[str, Entry]:
        """The registry's entries that ``desired`` is compared against."""
        return {e.id: e for e in self.registry.entries() if e.id in desired or self._owns(e)}

    async def sync(self, desired: Mapping[str, Entry], report: SyncReport | None = None) -> SyncReport:
        report = report if report is not None else SyncReport()
        for _ in range(_CONFLICT_RETRIES):
            version = self.registry.version
            ops = diff(self.current(desired), desired)
            if not ops:
                return report
            try:
                report.versions.append(
                    await self.registry.apply(ops, origin=self.origin, expected_version=version)
                )
                return report
            except Conflict:
                continue  # someone else applied meanwhile: recompute against the new head
            except ApplyError as e:
                groups = self._groups(ops)
                if len(groups) == 1:
                    self.report(report, str(e))
                    return report
                await self._apply_groups(groups, report)
                return report
        self.report(report, f"{self.origin}: registry kept changing; gave up after {_CONFLICT_RETRIES} attempts")
        return report

    def _groups(self, ops: list[Op]) -> dict[str, list[Op]]:
        groups: dict[str, list[Op]] = {}
        for op in ops:
            groups.setdefault(self._group_of(op), []).append(op)
        return groups

    async def _apply_groups(self, groups: dict[str, list[Op]], report: SyncReport) -> None:
        # Repeat while something lands: a group may depend on another (an entry it
        # references, a reference it drops) that only lands later in the same pass.
        pending = dict(sorted(groups.items()))
        failures: dict[str, ApplyError] = {}
        progress = True
        while pending and progress:
            progress = False
            for name, ops in list(pending.items()):
                try:
                    report.versions.append(await self.registry.apply(ops, origin=self.origin))
                except ApplyError as e:
                    failures[name] = e
                    continue
                del pending[name]
                failures.pop(name, None)
                progress = True
        for name in pending:
            self.report(report, str(failures[name]))
