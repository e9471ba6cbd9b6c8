"""Durations and bounds: the small parsers every scenario leans on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.scenario.durations import MAX_SECONDS, format_seconds, parse_bound, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("10s", 10),
        ("2m", 120),
        ("1h", 3600),
        ("1.5s", 1.5),
        ("7", 7),
        (3, 3),
        (0.25, 0.25),
        (" 10 s ", 10),
    ],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["-5s", -1, "10 seconds", "fast", "", True, None, [1]])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False), st.sampled_from(["ms", "s", "m", "h"]))
def test_duration_round_trip(value: float, unit: str) -> None:
    text = f"{value:.6f}{unit}"
    factor = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    seconds = float(f"{value:.6f}") * factor
    if seconds > MAX_SECONDS:  # longer than a day is not a rehearsal: refused, with the limit
        with pytest.raises(ValueError, match="at most 24h"):
            parse_duration(text)
    else:
        assert parse_duration(text) == pytest.approx(seconds)


def test_bounds() -> None:
    b = parse_bound("<= 10s", duration=True)
    assert b.holds(10) and not b.holds(10.01) and b.margin(7) == 3
    assert parse_bound("10s", duration=True).op == "<="
    lt = parse_bound("< 0.05", duration=False)
    assert lt.holds(0.04) and not lt.holds(0.05)
    ge = parse_bound(">= 2s", duration=True)
    assert ge.holds(2) and ge.margin(3) == 1
    assert parse_bound(0, duration=False).holds(0)
    with pytest.raises(ValueError):
        parse_bound("<= fast", duration=True)
    with pytest.raises(ValueError):
        parse_bound("<= -1", duration=False)


def test_format_seconds_never_shows_more_precision_than_the_resolution() -> None:
    assert format_seconds(2.94460, 0.144) == "2.9s"
    assert format_seconds(2.94460, 0.012) == "2.94s"
    assert format_seconds(2.94460, 1.5) == "3s"
