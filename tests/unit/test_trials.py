"""MTTR over trials and distribution expectations, with known answers."""

from __future__ import annotations

from typing import Any

from harness.measure.trials import mttr_over_trials, percentile
from harness.measure.verdicts import judge_distribution
from harness.scenario.models import Expectations


def trials(*recovery: float | None) -> list[dict[str, Any]]:
    return [
        {
            "trial": n + 1,
            "faults": [
                {"index": 0, "label": "down@a->b", "recovery_time": r, "resolution": {"recovery_time": 0.1}}
            ],
        }
        for n, r in enumerate(recovery)
    ]


def test_median_p95_max_and_every_value() -> None:
    (m,) = mttr_over_trials(trials(1.0, 3.0, 2.0, 4.0, 5.0))
    assert (m["median"], m["max"], m["trials"]) == (3.0, 5.0, 5)
    assert m["p95"] == percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == 4.8
    assert [v["recovery_time"] for v in m["values"]] == [1.0, 3.0, 2.0, 4.0, 5.0]
    assert m["all_recovered"]


def test_a_trial_that_never_recovered_is_infinite() -> None:
    (m,) = mttr_over_trials(trials(1.0, None))
    assert m["max"] is None and m["p95"] is None and not m["all_recovered"]
    assert m["median"] is None  # linear interpolation towards infinity


def test_distribution_verdicts() -> None:
    expect = Expectations.model_validate({"recovery_time": {"median": "<= 3s", "max": "<= 4s"}})
    verdicts = {v.expectation: v for v in judge_distribution(expect, mttr_over_trials(trials(1.0, 3.0, 5.0)))}
    assert verdicts["recovery_time.median"].passed
    assert not verdicts["recovery_time.max"].passed and verdicts["recovery_time.max"].measured == 5.0
    assert "over 3 trials" in verdicts["recovery_time.max"].measured_text


def test_a_per_trial_bound_is_not_a_distribution() -> None:
    expect = Expectations.model_validate({"recovery_time": "<= 3s"})
    assert judge_distribution(expect, mttr_over_trials(trials(1.0))) == []
