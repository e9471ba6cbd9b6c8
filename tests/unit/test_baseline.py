"""The baseline before the first fault, and the achieved request rate, on known synthetic ledgers."""

from __future__ import annotations

import numpy as np
import pytest

from harness.measure.baseline import Baseline, measure_baseline
from harness.measure.health import HealthPolicy, evaluate_health
from harness.measure.samples import RequestSamples

POLICY = HealthPolicy(window=1.0, step=0.1, hold=3.0)


def sent(rate: float, until: float, bad: tuple[float, float] = (0.0, 0.0)) -> RequestSamples:
    start = np.arange(1, int(until * rate)) / rate
    failing = (start >= bad[0]) & (start < bad[1])
    return RequestSamples.from_arrays(start, start + 0.005, ~failing)


def baseline_of(
    samples: RequestSamples, first_fault: float | None, baseline: float = 3.0, asked: float = 100.0
):  # type: ignore[no-untyped-def]
    timeline = evaluate_health(samples, POLICY, 0.0, 20.0)
    return measure_baseline(
        timeline, samples, load_started=0.0, first_fault=first_fault, baseline=baseline, rate_asked=asked
    )


def test_healthy_before_the_fault() -> None:
    b = baseline_of(sent(100, 20), first_fault=8.0)
    assert b.healthy is True and b.outcome == "healthy"
    assert b.held_from == pytest.approx(0.0)
    assert (b.judged_from, b.judged_to, b.required) == (0.0, 8.0, 3.0)
    assert b.note == ""


def test_never_healthy_before_the_fault_is_its_own_outcome() -> None:
    # failing from the start until well after the fault: never 3 s of health before it
    b = baseline_of(sent(100, 20, bad=(0.0, 12.0)), first_fault=8.0)
    assert b.healthy is False and b.outcome == "unhealthy_before_fault"
    assert b.held_from is None


def test_a_warm_up_is_fine_if_the_slo_then_holds_for_the_baseline() -> None:
    b = baseline_of(sent(100, 20, bad=(0.0, 2.0)), first_fault=8.0)
    assert b.healthy is True
    assert b.held_from is not None and 2.0 <= b.held_from <= 3.2


def test_health_that_comes_too_late_for_the_baseline_does_not_count() -> None:
    # healthy from 6 s, fault at 8 s: only 2 s of health before it, 3 s asked
    b = baseline_of(sent(100, 20, bad=(0.0, 6.0)), first_fault=8.0)
    assert b.healthy is False


def test_a_fault_sooner_than_the_baseline_requires_the_whole_stretch_and_says_so() -> None:
    b = baseline_of(sent(100, 20), first_fault=2.0)
    assert b.healthy is True and b.required == pytest.approx(2.0)
    assert "before a 3s baseline" in b.note
    bad = baseline_of(sent(100, 20, bad=(0.5, 0.6)), first_fault=2.0)
    assert bad.healthy is False


def test_less_than_a_window_before_the_fault_is_not_judged() -> None:
    b = baseline_of(sent(100, 20), first_fault=0.5)
    assert b.healthy is None and b.outcome == "not_judged"
    assert "not judged" in b.note


def test_no_fault_judges_the_whole_load() -> None:
    b = baseline_of(sent(100, 20), first_fault=None)
    assert b.healthy is True and b.judged_to == 20.0


def test_achieved_rate_against_asked_warns_only_when_short_by_more_than_10_percent() -> None:
    fine = baseline_of(sent(95, 20), first_fault=8.0, asked=100.0)
    assert fine.rate_achieved == pytest.approx(95.0, rel=0.02)
    assert not fine.rate_short and fine.rate_warning is None
    short = baseline_of(sent(80, 20), first_fault=8.0, asked=100.0)
    assert short.rate_short
    assert short.rate_warning is not None and "req/s of the 100 asked (80%)" in short.rate_warning


def test_to_dict_is_plain_json() -> None:
    b = baseline_of(sent(100, 20), first_fault=8.0)
    data = b.to_dict()
    assert data["outcome"] == "healthy" and data["rate_short"] is False
    assert isinstance(b, Baseline)


def test_slo_baseline_defaults_to_hold_and_must_cover_a_window() -> None:
    from pydantic import ValidationError

    from harness.scenario.models import SLO

    assert SLO().baseline is None  # the analysis then requires slo.hold
    assert SLO(baseline=8.0).baseline == 8.0
    with pytest.raises(ValidationError, match="baseline"):
        SLO(window=2.0, hold=5.0, baseline=1.0)
