"""The health timeline: is the target meeting its SLO, window by window and instant by instant.

**Where a request counts.** Each request is placed where it tells the truth about the service
(:func:`harness.measure.samples.judged`): a failure (or a request slower than the SLO's tightest
latency bound) at its *start*, when the service was demonstrably still bad; a success at its
*end*, by which the service was demonstrably good. A request that took 1 s to fail, sent 50 ms
before the service recovered, therefore counts 50 ms before the recovery, not 950 ms after it.
"Completed" below means "placed": every request counts once its outcome is known, at that
instant.

**Windows.** A window ending at ``s`` holds the requests *placed* in ``(s - window, s]``.
Windows end on a fine grid ``s_k = observe_from + window + k * step`` (``s_k <= observe_to``), not
just on whole-window boundaries, so edges are located to a step rather than to a window. A window
is healthy iff it has at least one completed request, its success share is at least
``success_rate``, and each latency bound given (``p95_latency``, ``p99_latency``) holds for the
latencies of *all* its completed requests (failures included: a slow error is still slow).
Percentiles use numpy's ``method="linear"`` (the default interpolation, type 7 of Hyndman & Fan),
so they are stable between numpy versions and match what a spreadsheet prints. A window with no
completed request is **unhealthy**: an outage often shows as silence (hung connections, a
refusing load balancer that the client retries), not as errors.

**Instants.** Reports and recovery figures need instants, not windows. An instant ``x`` is
healthy iff at least one *healthy* window's span contains it; the unhealthy instants are the rest
of the judged span. Why not simply "the window ending at ``x``" or "the window starting at
``x``"? A trailing window judged at its end keeps failures in view for a whole window after they
stop, so it would report recovery a window late; a leading window would see failures coming and
report impact a window early. Coverage by a healthy window is symmetric: with a sharp transition
at ``F`` (healthy before, failing after), the last healthy window is one whose span holds at most
``(1 - success_rate) * window`` of failing time, and the grid finds it to within one ``step``. So
both the start and the end of an unhealthy stretch land within ``step + (1 - success_rate) *
window`` of the truth (``step +`` :attr:`HealthPolicy.edge_slack` once latency bounds count too),
plus the gap between requests near the edge; :mod:`harness.measure.recovery` reports that sum
as each figure's resolution. Silence is where the gap term matters: a window holding one lonely
ok request is healthy, so a silent outage is seen up to a window late and its end up to a
window early, and the gaps there are as large as those errors. The flip side: a silence
longer than a window would be bridged by the healthy windows either side of it, so **an empty
window overrides coverage**: every instant in the span of a window with no completed request is
unhealthy. A silence longer than one window is then unhealthy over its whole length, located to
within a step; a shorter one is tolerated, as the window's own definition tolerates it. Error
edges keep the symmetry above, because a window with errors is not empty.

Spans are treated as closed ``[s - window, s]`` here: the difference from ``(s - window, s]`` is a
set of single points, and counting them would make ``observe_from`` itself, covered by no
half-open span, an "unhealthy instant" at the start of every run.

**The judged span** is ``[observe_from, ends[-1]]``. The last grid end may fall short of
``observe_to`` by less than a step; no evaluated window covers that sliver, so it is neither
healthy nor unhealthy (``unhealthy_intervals`` leaves it out, ``is_healthy_at`` says False, as
there is no evidence of health). Counting it as unhealthy would invent an impact at the end of
every run whose length is not a multiple of the step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Final

import numpy as np
from numpy.typing import NDArray

from harness.measure.samples import BoolArray, FloatArray, JudgedSamples, RequestSamples, judged
from harness.scenario.slo import HealthPolicy as HealthPolicy  # re-exported: the judgement reads it

#: Times closer than this (seconds) are the same instant: grid arithmetic is float.
EPS = 1e-9
#: Tolerance on the success-share comparison, so 99/100 >= 0.99 despite rounding.
_RATE_EPS = 1e-12
PERCENTILE_METHOD: Final = "linear"
_QUANTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True, eq=False)
class HealthTimeline:
    """Per-window statistics over the evaluation grid, and the instant health they imply.

    Arrays are parallel, one entry per window, indexed by ``ends`` (the window end instants,
    seconds relative to the run start). ``success_rate`` and the percentiles are NaN for an
    empty window. Build with :func:`evaluate_health`.
    """

    policy: HealthPolicy
    observe_from: float
    observe_to: float
    ends: FloatArray
    count: NDArray[np.int64]
    success_rate: FloatArray
    p50: FloatArray
    p95: FloatArray
    p99: FloatArray
    healthy: BoolArray
    samples: RequestSamples

    @property
    def judged(self) -> JudgedSamples:
        """The samples placed where each tells the truth (:func:`judged`), kept by the samples
        until they are told to forget them (the analysis does, once the faults are measured)."""
        return judged(self.samples, self.policy.slow_above)

    @property
    def starts(self) -> FloatArray:
        """Start of each window's span: ``ends - window``."""
        return self.ends - self.policy.window

    @property
    def judged_to(self) -> float:
        """End of the span the windows cover: the last window end (``observe_from`` if none)."""
        return float(self.ends[-1]) if self.ends.size else self.observe_from

    @staticmethod
    def _merge(starts: FloatArray, ends: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Merge closed spans given in order of nondecreasing ends."""
        if ends.size == 0:
            empty = np.empty(0, dtype=np.float64)
            return empty, empty
        # Window ends increase with the index, so a span joins the previous group iff it starts
        # before the previous span ends (gaps below EPS are float noise, not unhealthy time).
        new_group = np.empty(ends.size, dtype=np.bool_)
        new_group[0] = True
        new_group[1:] = starts[1:] > ends[:-1] + EPS
        first = np.flatnonzero(new_group)
        last = np.append(first[1:] - 1, ends.size - 1)
        return starts[first], ends[last]

    @cached_property
    def silent_spans(self) -> list[tuple[float, float]]:
        """Merged spans of windows with no completed request: silence longer than a window."""
        ends = self.ends[self.count == 0]
        a, b = self._merge(ends - self.policy.window, ends)
        return [(float(x), float(y)) for x, y in zip(a, b, strict=True)]

    @cached_property
    def _healthy_spans(self) -> tuple[FloatArray, FloatArray]:
        """Healthy instants: covered by a healthy window, minus silences (see the module docstring)."""
        ends = self.ends[self.healthy]
        covered = self._merge(ends - self.policy.window, ends)
        silent = self.silent_spans
        if not silent:
            return covered
        out_a: list[float] = []
        out_b: list[float] = []
        for a, b in zip(covered[0].tolist(), covered[1].tolist(), strict=True):
            for sa, sb in silent:
                if sb <= a or sa >= b:
                    continue
                if sa > a + EPS:
                    out_a.append(a)
                    out_b.append(sa)
                a = max(a, sb)
            if b - a > EPS:
                out_a.append(a)
                out_b.append(b)
        return np.asarray(out_a, dtype=np.float64), np.asarray(out_b, dtype=np.float64)

    def healthy_spans(self) -> list[tuple[float, float]]:
        """Maximal stretches of healthy instants, ``[a, b]``, sorted and disjoint."""
        a, b = self._healthy_spans
        return [(float(x), float(y)) for x, y in zip(a, b, strict=True)]

    def unhealthy_intervals(self) -> list[tuple[float, float]]:
        """Maximal stretches of unhealthy instants within the judged span, sorted and disjoint.

        Each ``(a, b)`` has ``b - a > EPS``; the edges themselves belong to the healthy side
        (see the module docstring), so an interval is open where it meets healthy time.
        """
        lo, hi = self.observe_from, self.judged_to
        a, b = self._healthy_spans
        gap_starts = np.concatenate(([lo], b))
        gap_ends = np.concatenate((a, [hi]))
        gap_starts = np.maximum(gap_starts, lo)
        gap_ends = np.minimum(gap_ends, hi)
        keep = gap_ends - gap_starts > EPS
        return [(float(x), float(y)) for x, y in zip(gap_starts[keep], gap_ends[keep], strict=True)]

    def is_healthy_at(self, x: float) -> bool:
        """Whether instant ``x`` lies in the span of some healthy window."""
        a, b = self._healthy_spans
        i = int(np.searchsorted(a, x + EPS, side="right")) - 1
        return i >= 0 and x <= float(b[i]) + EPS

    def unhealthy_time(self, start: float, end: float) -> float:
        """Total unhealthy time (seconds) within ``[start, end]``."""
        total = 0.0
        for a, b in self.unhealthy_intervals():
            total += max(0.0, min(b, end) - max(a, start))
        return total

    def first_unhealthy(self, start: float, until: float) -> float | None:
        """The first unhealthy instant ``x`` with ``start <= x < until``, or None.

        Unhealthy stretches are open at a healthy edge, so the "first instant" of one that begins
        at ``a`` is ``a`` itself (its infimum); one already under way at ``start`` gives ``start``.
        """
        for a, b in self.unhealthy_intervals():
            if b <= start + EPS:
                continue
            x = max(a, start)
            return x if x < until else None
        return None


def _grid(policy: HealthPolicy, observe_from: float, observe_to: float) -> FloatArray:
    span = observe_to - observe_from
    if span + EPS < policy.window:
        return np.empty(0, dtype=np.float64)
    n = math.floor((span - policy.window + EPS) / policy.step) + 1
    ends = observe_from + policy.window + np.arange(n + 1, dtype=np.float64) * policy.step
    return ends[ends <= observe_to + EPS]


def evaluate_health(
    samples: RequestSamples, policy: HealthPolicy, observe_from: float, observe_to: float
) -> HealthTimeline:
    """Judge every window of the grid over ``[observe_from, observe_to]`` (seconds, run-relative).

    Observe only while load runs: silence outside it is not an outage. If the span is shorter
    than one window the grid is empty and nothing is judged.
    """
    if not (math.isfinite(observe_from) and math.isfinite(observe_to)):
        raise ValueError(f"observation bounds must be finite (got {observe_from!r}, {observe_to!r})")
    if observe_to < observe_from:
        raise ValueError(f"observe_to ({observe_to!r}) is before observe_from ({observe_from!r})")
    ends = _grid(policy, observe_from, observe_to)
    n = ends.size
    placed = judged(samples, policy.slow_above)
    lo = np.searchsorted(placed.at, ends - policy.window, side="right")
    hi = np.searchsorted(placed.at, ends, side="right")
    count = (hi - lo).astype(np.int64)
    cum_ok = np.concatenate(([0], np.cumsum(placed.ok, dtype=np.int64)))
    successes = cum_ok[hi] - cum_ok[lo]
    nonempty = count > 0
    rate = np.full(n, np.nan)
    rate[nonempty] = successes[nonempty] / count[nonempty]

    pct = np.full((n, 3), np.nan)
    latency = placed.latency
    prev: tuple[int, int] | None = None
    prev_k = -1
    for k in np.flatnonzero(nonempty):
        bounds = (int(lo[k]), int(hi[k]))
        if bounds == prev:  # same requests as the previous non-empty window (a quiet step)
            pct[k] = pct[prev_k]
        else:
            pct[k] = np.percentile(latency[bounds[0] : bounds[1]], _QUANTILES, method=PERCENTILE_METHOD)
        prev, prev_k = bounds, int(k)
    p50, p95, p99 = (np.ascontiguousarray(pct[:, i]) for i in range(3))

    healthy = nonempty.copy()
    healthy[nonempty] &= rate[nonempty] >= policy.success_rate - _RATE_EPS
    if policy.p95_latency is not None:
        healthy[nonempty] &= p95[nonempty] <= policy.p95_latency
    if policy.p99_latency is not None:
        healthy[nonempty] &= p99[nonempty] <= policy.p99_latency

    for arr in (ends, count, rate, p50, p95, p99, healthy):
        arr.setflags(write=False)
    return HealthTimeline(
        policy=policy,
        observe_from=float(observe_from),
        observe_to=float(observe_to),
        ends=ends,
        count=count,
        success_rate=rate,
        p50=p50,
        p95=p95,
        p99=p99,
        healthy=healthy,
        samples=samples,
    )
