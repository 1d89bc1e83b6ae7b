"""Go-style durations."""

from __future__ import annotations

import pytest

from wippy.durations import format_duration, parse_duration


@pytest.mark.parametrize("text, seconds", [
    ("500ms", 0.5), ("1h30m", 5400.0), ("2.5s", 2.5), ("10us", 1e-5), ("10µs", 1e-5), ("1ns", 1e-9),
    ("1m0.5s", 60.5), ("0", 0.0), ("-1.5h", -5400.0), (".5s", 0.5), (30, 30.0), (0.25, 0.25),
])
def test_parse(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad, message", [
    ("10", "missing unit"), ("", "empty"), ("5 minutes", "expected Go syntax"), ("1d", "expected Go syntax"),
    (True, "expected a string"), (None, "expected a string"), ([1], "expected a string"),
])
def test_parse_errors_say_what_is_wrong(bad, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(bad)


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (5400, "1h30m0s"), (0.5, "500ms"), (2.5, "2.5s"), (1e-9, "1ns"), (1.5e-6, "1.5µs"),
    (60.5, "1m0.5s"), (-90, "-1m30s"), (3600, "1h0m0s"),
])
def test_format(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds)
