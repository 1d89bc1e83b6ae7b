"""The `metrics` module: counters, gauges and histograms exported to Prometheus."""
from __future__ import annotations

from .. import metrics as m


def install(engine):
    def labels(t):
        v = engine.py(t) if t is not None else None
        return {} if v in (None, []) else v

    def counter_inc(name, lbl=None):
        m.counter_add(name, 1.0, labels(lbl))
        return True

    def counter_add(name, value, lbl=None):
        m.counter_add(name, value, labels(lbl))
        return True

    def gauge_set(name, value, lbl=None):
        m.gauge_set(name, value, labels(lbl))
        return True

    def gauge_inc(name, lbl=None):
        m.gauge_add(name, 1.0, labels(lbl))
        return True

    def gauge_dec(name, lbl=None):
        m.gauge_add(name, -1.0, labels(lbl))
        return True

    def gauge_add(name, value, lbl=None):
        m.gauge_add(name, value, labels(lbl))
        return True

    def histogram(name, value, lbl=None):
        m.histogram_observe(name, value, labels(lbl))
        return True

    return {"counter_inc": counter_inc, "counter_add": counter_add, "gauge_set": gauge_set,
            "gauge_inc": gauge_inc, "gauge_dec": gauge_dec, "gauge_add": gauge_add,
            "histogram": histogram, "histogram_observe": histogram}
