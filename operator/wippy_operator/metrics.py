"""Prometheus metrics of the operator (served by `python -m wippy_operator --metrics-port`)."""
from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

RECONCILES = Counter("wippy_operator_reconciles_total", "Entry and app reconciliations.", ["kind", "result"])
REVISIONS = Counter("wippy_operator_revisions_recorded_total", "ControllerRevisions recorded for entries.")
DURATION = Histogram("wippy_operator_reconcile_seconds", "Time to reconcile one object.", ["kind"])
CONFLICTS = Counter("wippy_operator_stale_writes_total",
                    "Status writes refused because the object changed meanwhile (redone on its next event).")


class _EntriesByState:
    """Counted when scraped, not on every reconcile: a count over all entries is O(n)."""

    def __init__(self, count: Callable[[], dict[str, int]]):
        self._count = count

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily("wippy_operator_entries", "Entries by readiness state.", labels=["state"])

    def describe(self):
        yield self._family()

    def collect(self):
        family = self._family()
        for state, n in self._count().items():
            family.add_metric([state], n)
        yield family


def count_entries_with(count: Callable[[], dict[str, int]]) -> None:
    REGISTRY.register(_EntriesByState(count))
