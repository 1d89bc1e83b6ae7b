"""Prometheus metrics of the operator (served by `python -m wippy_operator --metrics-port`)."""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECONCILES = Counter("wippy_operator_reconciles_total", "Entry and app reconciliations.", ["kind", "result"])
REVISIONS = Counter("wippy_operator_revisions_recorded_total", "ControllerRevisions recorded for entries.")
ENTRIES = Gauge("wippy_operator_entries", "Entries by readiness state.", ["state"])
DURATION = Histogram("wippy_operator_reconcile_seconds", "Time to reconcile one object.", ["kind"])
