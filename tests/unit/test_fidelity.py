"""Fault fidelity on synthetic ledgers: what the fault did to the requests, against what was asked."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import TypeAdapter

from harness.measure.fidelity import measure_fidelity
from harness.measure.samples import RequestSamples
from harness.scenario.models import Fault

FAULT: TypeAdapter[Fault] = TypeAdapter(Fault)


def fault(**kw: object) -> Fault:
    return FAULT.validate_python({"at": "4s", "duration": "3s", **kw})


def ledger(
    extra_latency: float = 0.0, failing: float = 0.0, during: tuple[float, float] = (4.0, 7.0), seed: int = 0
) -> RequestSamples:
    """100 req/s for 12 s, 5-15 ms each; requests sent ``during`` get ``extra_latency`` and a
    ``failing`` share of failures."""
    rng = np.random.default_rng(seed)
    start = np.arange(1, 1200) / 100
    latency = rng.uniform(0.005, 0.015, start.size)
    inside = (start >= during[0]) & (start < during[1])
    latency[inside] += extra_latency
    ok = ~(inside & (rng.uniform(size=start.size) < failing))
    return RequestSamples.from_arrays(start, start + latency, ok)


def measure(samples: RequestSamples, f: Fault):  # type: ignore[no-untyped-def]
    return measure_fidelity(samples, f, injected_at=4.0, cleared_at=7.0, load_started=0.0, entrypoint="app")


def test_a_latency_fault_that_took_effect_is_compared_with_what_was_asked() -> None:
    f = fault(kind="latency", link="app->dep", latency="200ms")
    fid = measure(ledger(extra_latency=0.2), f)
    assert fid.effect_observed is True and not fid.no_effect
    assert fid.asked_latency == pytest.approx(0.2)
    assert fid.latency_shift == pytest.approx(0.2, abs=0.005)
    assert "+200 ms against +200 ms asked" in fid.note
    assert fid.requests_during == 300 and fid.requests_before == 300


def test_both_directions_ask_for_two_crossings() -> None:
    f = fault(kind="latency", link="app->dep", latency="100ms", direction="both")
    assert measure(ledger(extra_latency=0.2), f).asked_latency == pytest.approx(0.2)


def test_a_fault_with_no_effect_is_flagged() -> None:
    f = fault(kind="latency", link="worker->payments", latency="500ms")
    fid = measure(ledger(), f)
    assert fid.effect_observed is False and fid.no_effect
    assert fid.note.startswith("no effect observed")
    assert "worker->payments" in fid.note
    assert fid.to_dict()["no_effect"] is True


def test_an_error_fault_is_seen_in_the_error_share() -> None:
    f = fault(kind="down", link="app->dep", toxicity=0.5)
    fid = measure(ledger(failing=0.5), f)
    assert fid.effect_observed is True
    assert fid.asked_error_share == 0.5
    assert fid.error_share_during == pytest.approx(0.5, abs=0.1)
    assert fid.error_share_before == 0.0


def test_a_few_stray_failures_are_not_an_effect() -> None:
    f = fault(kind="reset", link="app->dep")
    assert measure(ledger(failing=0.003), f).effect_observed is False


def test_service_faults_are_judged_on_the_entrypoint() -> None:
    f = fault(kind="pause", service="app")
    fid = measure(ledger(extra_latency=1.0), f)
    assert fid.effect_observed is True and fid.asked == "pause of app"


def test_nothing_sent_during_the_fault_cannot_be_judged() -> None:
    s = ledger()
    keep = (s.start < 4.0) | (s.start >= 7.0)
    silent = RequestSamples.from_arrays(s.start[keep], s.end[keep], s.ok[keep])
    fid = measure(silent, fault(kind="down", link="app->dep"))
    assert fid.effect_observed is None and not fid.no_effect
    assert "no request was sent" in fid.note


def test_duplicate_faults_are_left_to_the_consistency_figures() -> None:
    fid = measure(ledger(), fault(kind="duplicate", fraction=0.2))
    assert fid.effect_observed is None and "consistency" in fid.note


def test_latency_wander_of_a_busy_machine_is_not_an_effect() -> None:
    """Seen on a loaded machine: medians of two stretches differ by tens of percent, no fault."""
    rng = np.random.default_rng(7)
    start = np.arange(1, 1200) / 100
    latency = rng.uniform(0.005, 0.035, start.size)  # median ~20 ms, p90 ~32 ms
    latency[(start >= 4.0) & (start < 7.0)] += 0.008  # +40 % on the median, within the spread
    wander = RequestSamples.from_arrays(start, start + latency, np.ones(start.size, dtype=bool))
    fid = measure(wander, fault(kind="latency", link="worker->payments", latency="500ms"))
    assert fid.effect_observed is False


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"kind": "bandwidth", "rate": 50}, "bandwidth capped at 50 KB/s downstream on app->dep"),
        (
            {"kind": "slicer", "average_size": 64, "size_variation": 8, "delay": "2ms"},
            "data sliced into 64 ± 8-byte pieces 2 ms apart downstream on app->dep",
        ),
        (
            {"kind": "slow_close", "delay": "300ms"},
            "connection close held back 300 ms downstream on app->dep",
        ),
        ({"kind": "limit_data", "bytes": 100}, "connection closed after 100 bytes downstream on app->dep"),
    ],
)
def test_a_shaping_toxic_says_what_it_asked_for(kw: dict[str, object], words: str) -> None:
    """The traffic-shaping kinds name their effect, not just "<kind> of <link>"."""
    fid = measure(ledger(extra_latency=0.2), fault(link="app->dep", **kw))
    assert fid.asked.startswith(words)
