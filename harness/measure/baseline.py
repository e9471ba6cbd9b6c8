"""The baseline: was the target healthy before the first fault, and did the load reach its rate?

Chaos Toolkit checks its steady-state hypothesis before injecting anything; so do we. Before the
first fault the SLO must hold for ``slo.baseline`` seconds (default ``slo.hold``): some stretch
``[t, t + baseline]`` between the start of load and the first injection whose windows are all
healthy (the recovery test, :func:`harness.measure.recovery.held_from`, applied before the
fault). A trial that never met it is **unhealthy before any fault**: that is its outcome, and no
recovery verdict is computed, since a system that was never healthy cannot recover.

When the first fault comes sooner after the start of load than ``baseline`` allows, the whole
stretch before it is required instead (with a note); shorter than one window, there is nothing
to judge and the baseline is "not judged" (None), never silently "healthy".

**Request rate.** The rate asked (``users * rate_per_user``) is compared with the rate achieved:
requests *sent* per second over the same pre-fault stretch (the whole load if there is no
fault), before any fault can slow the users down. Short by more than 10 % means the load
generator, not the target, may be the bottleneck, and every figure was measured at less load
than the scenario says.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.measure.health import EPS, HealthTimeline
from harness.measure.recovery import held_from
from harness.measure.samples import RequestSamples

#: Achieved below this share of the asked rate draws a warning.
RATE_SHORTFALL = 0.9


@dataclass(frozen=True)
class Baseline:
    """Health and load before the first fault. Times are seconds relative to the run's start.

    ``healthy`` is True (held for ``required`` seconds from ``held_from``), False (never held:
    the trial's outcome is "unhealthy before any fault") or None (the stretch before the first
    fault is shorter than a window: not judged). ``asked`` is ``slo.baseline``; ``required``
    is what was required (shorter when the first fault came early; ``note`` says so).
    """

    asked: float
    required: float
    judged_from: float
    judged_to: float
    held_from: float | None
    healthy: bool | None
    note: str
    rate_asked: float
    rate_achieved: float | None

    @property
    def rate_short(self) -> bool:
        """Whether the load fell short of the asked rate by more than 10 %."""
        return self.rate_achieved is not None and self.rate_achieved < RATE_SHORTFALL * self.rate_asked

    @property
    def rate_warning(self) -> str | None:
        """The warning to print when :attr:`rate_short`, else None."""
        if not self.rate_short or self.rate_achieved is None:
            return None
        share = self.rate_achieved / self.rate_asked
        return (
            f"the load reached {self.rate_achieved:.1f} req/s of the {self.rate_asked:g} asked "
            f"({share:.0%}) before the first fault: the load generator, not the target, may be the "
            "bottleneck (fewer users per process, load.workers, or a lower rate)"
        )

    @property
    def outcome(self) -> str:
        """``healthy``, ``unhealthy_before_fault`` or ``not_judged``."""
        if self.healthy is None:
            return "not_judged"
        return "healthy" if self.healthy else "unhealthy_before_fault"

    def to_dict(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "asked": self.asked,
            "required": self.required,
            "judged_from": self.judged_from,
            "judged_to": self.judged_to,
            "held_from": self.held_from,
            "healthy": self.healthy,
            "note": self.note,
            "rate_asked": self.rate_asked,
            "rate_achieved": self.rate_achieved,
            "rate_short": self.rate_short,
            "rate_warning": self.rate_warning,
        }


def measure_baseline(
    timeline: HealthTimeline,
    samples: RequestSamples,
    *,
    load_started: float,
    first_fault: float | None,
    baseline: float,
    rate_asked: float,
) -> Baseline:
    """Judge the stretch from ``load_started`` to ``first_fault`` (or the end of observation).

    ``baseline`` is ``slo.baseline`` in seconds; ``rate_asked`` is requests per second.
    """
    until = timeline.observe_to if first_fault is None else min(first_fault, timeline.observe_to)
    span = until - load_started
    window = timeline.policy.window
    note = ""
    required = baseline
    healthy: bool | None
    held: float | None = None
    if span + EPS < window:
        healthy = None
        note = (
            f"not judged: the first fault came {max(span, 0.0):.2f}s after the load started, "
            f"less than one window ({window:g}s)"
        )
    else:
        if span + EPS < baseline:
            required = max(window, span)
            note = (
                f"the first fault came {span:.2f}s after the load started, before a {baseline:g}s "
                f"baseline could be observed: required health over those {required:.2f}s instead"
            )
        held = held_from(timeline, load_started, required, until)
        healthy = held is not None
    rate: float | None = None
    if span > EPS:
        sent = np.count_nonzero((samples.start >= load_started) & (samples.start < until))
        rate = float(sent) / span
    return Baseline(
        asked=float(baseline),
        required=float(required),
        judged_from=float(load_started),
        judged_to=float(until),
        held_from=held,
        healthy=healthy,
        note=note,
        rate_asked=float(rate_asked),
        rate_achieved=rate,
    )
