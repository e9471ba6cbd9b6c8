"""Impact, recovery and outage of one fault, read off the health timeline (DESIGN.md, binding).

* ``time_to_impact`` = first unhealthy instant at or after ``injected_at`` (and before
  ``impact_until``), minus ``injected_at``; None if never impacted.
* ``recovered_at`` = the earliest ``t >= cleared_at`` such that every evaluated window whose span
  lies within ``[t, t + hold]`` is healthy (and at least one does, and ``t + hold`` is observed).
  The candidates are ``t = cleared_at`` and the span starts ``s - window`` after it: between
  two of those, moving ``t`` later only adds windows at the back of ``[t, t + hold]``, so the
  left end of such a stretch is its best point (requiring at least one window inside keeps
  an empty, vacuously healthy stretch from counting as recovered).
  When the impact comes only after ``cleared_at`` (delayed effects: a cache expiring, a queue
  filling), the search starts at ``impact_at`` instead: read literally, the definition would
  report a recovery *before* the impact, with no outage, whenever the impact waits longer
  than ``hold`` after the clear. Whenever the impact starts by ``cleared_at`` this is exactly
  the definition.
* ``recovery_time`` (MTTR) = ``recovered_at - cleared_at``; 0 if never impacted; None ("not
  recovered", a failed expectation) if no valid ``t`` exists before observation ends.
* ``outage`` = total unhealthy time in ``[injected_at, recovered_at]`` (to the end of the judged
  span if not recovered; 0 if never impacted).

**Resolution.** Every figure carries its own uncertainty (DESIGN.md: never print more precision
than you have). For a boundary instant ``b`` it is ``step + edge_slack`` plus the largest gap
between the instants where requests are placed (a failure at its start, a success at its end:
see :mod:`harness.measure.health`) in ``[b - window, b + window]`` ("around the boundary" means
this: one window either side), the ends of that range included, so silence around ``b`` widens
it. That placement puts no request on the wrong side of a *recovery*, however slowly it
failed. At an *impact* it can: a request in flight when the fault struck, which then failed, is
placed at its start, before the fault, while the fault may have struck at any instant of its
flight; so an impact's resolution also adds the largest latency of the bad requests placed
within a window before ``b`` (or up to ``step + edge_slack`` after it, where the grid may put
the edge) that were still in flight at ``b``. A black hole that hangs requests for the whole
request timeout is honestly located at its impact only to within that timeout; the transition
bracket (:mod:`harness.measure.bracket`) says the same from the requests alone.
``step + edge_slack`` is how far the grid and the pass threshold
can move an edge on dense traffic (see :mod:`harness.measure.health`): the design's floor is
``step``, and ``edge_slack`` is ``(1 - success_rate) * window``, 0.01 s by default, unless a
latency bound is set. They add rather than take the larger because ``recovered_at`` may be
``cleared_at`` itself, which is checked by windows starting up to a step later. ``cleared_at``
comes exactly from the journal, so ``recovery_time`` has the resolution of ``recovered_at``;
``outage`` has both edges'. Nothing is rounded here; the reporters round to the resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.measure.bracket import Bracket, bracket_transition
from harness.measure.health import EPS, HealthPolicy, HealthTimeline
from harness.measure.samples import RequestSamples, judged

RESOLUTION_KEYS = ("time_to_impact", "recovered_at", "recovery_time", "outage")


@dataclass(frozen=True)
class FaultMeasurement:
    """What one fault did to the target. Times are seconds relative to the run's start.

    ``resolution`` maps each of :data:`RESOLUTION_KEYS` to its uncertainty in seconds.
    ``error_rate_during_fault`` is the share of requests completed in
    ``[injected_at, cleared_at]`` that were not ok (None if none completed).
    ``impact_bracket`` / ``recovery_bracket``: the same transitions bracketed by the requests
    either side of them (:mod:`harness.measure.bracket`); None when not bracketable.
    """

    injected_at: float
    cleared_at: float
    time_to_impact: float | None
    impact_at: float | None
    recovered_at: float | None
    recovery_time: float | None
    recovered: bool
    outage: float
    resolution: dict[str, float]
    error_rate_during_fault: float | None
    requests_during_fault: int
    impact_bracket: Bracket | None = None
    recovery_bracket: Bracket | None = None

    @property
    def recovery_time_bracketed(self) -> float | None:
        """MTTR from the recovery bracket: its midpoint minus ``cleared_at`` (± its half-width)."""
        b = self.recovery_bracket
        return None if b is None else b.at - self.cleared_at

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready values (Python floats, ints, bools and None)."""
        return {
            "injected_at": float(self.injected_at),
            "cleared_at": float(self.cleared_at),
            "time_to_impact": _opt(self.time_to_impact),
            "impact_at": _opt(self.impact_at),
            "recovered_at": _opt(self.recovered_at),
            "recovery_time": _opt(self.recovery_time),
            "recovered": bool(self.recovered),
            "outage": float(self.outage),
            "resolution": {k: float(v) for k, v in self.resolution.items()},
            "error_rate_during_fault": _opt(self.error_rate_during_fault),
            "requests_during_fault": int(self.requests_during_fault),
            "impact_bracket": None if self.impact_bracket is None else self.impact_bracket.to_dict(),
            "recovery_bracket": None if self.recovery_bracket is None else self.recovery_bracket.to_dict(),
            "recovery_time_bracketed": _opt(self.recovery_time_bracketed),
        }


def _opt(value: float | None) -> float | None:
    return None if value is None else float(value)


def error_rate(samples: RequestSamples, start: float, end: float) -> float | None:
    """Share of requests completed in ``[start, end]`` that were not ok; None if none completed."""
    lo, hi = _completed_between(samples, start, end)
    if hi <= lo:
        return None
    return float(np.count_nonzero(~samples.ok[lo:hi])) / (hi - lo)


def _completed_between(samples: RequestSamples, start: float, end: float) -> tuple[int, int]:
    lo = int(np.searchsorted(samples.end, start, side="left"))
    hi = int(np.searchsorted(samples.end, end, side="right"))
    return lo, hi


def boundary_resolution(
    samples: RequestSamples, policy: HealthPolicy, at: float, *, impact: bool = False
) -> float:
    """Uncertainty (seconds) of an edge the timeline places at ``at``; see the module docstring.

    ``impact``: the edge is a healthy-to-unhealthy one, where requests in flight that failed
    may be placed early.
    """
    placed = judged(samples, policy.slow_above)
    lo = int(np.searchsorted(placed.at, at - policy.window, side="left"))
    hi = int(np.searchsorted(placed.at, at + policy.window, side="right"))
    points = np.concatenate(([at - policy.window], placed.at[lo:hi], [at + policy.window]))
    largest_gap = float(np.max(np.diff(points)))
    straddle = 0.0
    if impact:
        # the grid may put the edge up to step + edge_slack before the bad requests that made it
        reach = at + policy.step + policy.edge_slack
        before = slice(lo, int(np.searchsorted(placed.at, reach + EPS, side="right")))
        early = placed.bad[before] & (placed.end[before] > at)
        if early.any():
            straddle = float(placed.latency[before][early].max())
    return policy.step + policy.edge_slack + largest_gap + straddle


def recovered_at(timeline: HealthTimeline, cleared_at: float) -> float | None:
    """The earliest ``t >= cleared_at`` after which ``hold`` seconds of windows are all healthy.

    None if there is no such ``t`` with ``t + hold`` inside the observation. This is the bare
    definition; :func:`measure_fault` passes ``max(cleared_at, impact_at)`` as ``cleared_at``.
    """
    return held_from(timeline, cleared_at, timeline.policy.hold, timeline.observe_to)


def held_from(timeline: HealthTimeline, start: float, hold: float, until: float) -> float | None:
    """The earliest ``t >= start`` with ``t + hold <= until`` whose windows in ``[t, t + hold]``
    are all healthy (at least one of them); None if there is none.

    :func:`recovered_at` is this with the SLO's ``hold`` up to the end of the observation; the
    baseline (:mod:`harness.measure.baseline`) is this before the first fault.
    """
    starts, ends = timeline.starts, timeline.ends
    later = starts[starts >= start - EPS]
    candidates = np.concatenate(([start], np.maximum(later, start)))
    candidates = candidates[candidates + hold <= until + EPS]
    if candidates.size == 0:
        return None
    bad = np.concatenate(([0], np.cumsum(~timeline.healthy, dtype=np.int64)))
    first = np.searchsorted(starts, candidates - EPS, side="left")  # span starts at or after t
    stop = np.searchsorted(ends, candidates + hold + EPS, side="right")  # ends by t + hold
    valid = (stop > first) & (bad[stop] == bad[first])
    hits = np.flatnonzero(valid)
    return float(candidates[hits[0]]) if hits.size else None


def measure_fault(
    timeline: HealthTimeline,
    samples: RequestSamples,
    injected_at: float,
    cleared_at: float,
    impact_until: float | None = None,
) -> FaultMeasurement:
    """Measure one fault against the health timeline built from the same ``samples``.

    ``injected_at``/``cleared_at`` are when the harness's fault calls returned (journal), in
    run-relative seconds. ``impact_until`` stops the search for impact (default: end of
    observation); pass the next fault's injection so its impact is not blamed on this one.
    """
    _check_observed(timeline, injected_at, cleared_at)
    policy = timeline.policy
    until = timeline.observe_to if impact_until is None else impact_until
    impact_at = timeline.first_unhealthy(injected_at, until)

    recovered_time, outage = _recovery_and_outage(timeline, injected_at, cleared_at, impact_at)
    base = policy.step + policy.edge_slack
    res_impact = base if impact_at is None else boundary_resolution(samples, policy, impact_at, impact=True)
    res_recovered = base if recovered_time is None else boundary_resolution(samples, policy, recovered_time)
    lo, hi = _completed_between(samples, injected_at, cleared_at)
    placed, radius = timeline.judged, policy.window
    return FaultMeasurement(
        injected_at=float(injected_at),
        cleared_at=float(cleared_at),
        time_to_impact=None if impact_at is None else impact_at - injected_at,
        impact_at=impact_at,
        recovered_at=recovered_time,
        recovery_time=None if recovered_time is None else recovered_time - cleared_at,
        recovered=recovered_time is not None,
        outage=outage,
        resolution={
            "time_to_impact": res_impact,
            "recovered_at": res_recovered,
            "recovery_time": res_recovered,
            "outage": res_impact + res_recovered,
        },
        error_rate_during_fault=error_rate(samples, injected_at, cleared_at),
        requests_during_fault=hi - lo,
        impact_bracket=None if impact_at is None else bracket_transition(placed, impact_at, radius, "impact"),
        recovery_bracket=(
            None
            if impact_at is None or recovered_time is None
            else bracket_transition(placed, recovered_time, radius, "recovery")
        ),
    )


def _check_observed(timeline: HealthTimeline, injected_at: float, cleared_at: float) -> None:
    """The observation must hold one window at least, and the whole fault."""
    if not timeline.ends.size:
        raise ValueError(
            f"nothing to measure: observation [{timeline.observe_from}, {timeline.observe_to}] "
            f"is shorter than one window ({timeline.policy.window} s); observe for longer"
        )
    if not timeline.observe_from <= injected_at <= cleared_at <= timeline.observe_to:
        raise ValueError(
            "need observe_from <= injected_at <= cleared_at <= observe_to, got "
            f"{timeline.observe_from} <= {injected_at} <= {cleared_at} <= {timeline.observe_to}; "
            "observe the whole fault (and its recovery hold) while load runs"
        )


def _recovery_and_outage(
    timeline: HealthTimeline, injected_at: float, cleared_at: float, impact_at: float | None
) -> tuple[float | None, float]:
    """When health was back for good (the clear, if there was no impact; None: never within the
    judged span) and how long it was unhealthy from the injection until then."""
    if impact_at is None:
        return cleared_at, 0.0
    recovered_time = recovered_at(timeline, max(cleared_at, impact_at))
    outage_end = timeline.judged_to if recovered_time is None else recovered_time
    return recovered_time, timeline.unhealthy_time(injected_at, outage_end)
