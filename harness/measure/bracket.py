"""The transition bracket: where the requests themselves put a healthy<->unhealthy transition.

The window figures (``impact_at``, ``recovered_at``) are located to a step plus the gaps between
requests. The ledger can say more. If the service is in state A until an instant ``T`` and in
state B from then on, a request that saw A was answered at some instant of ``[start, end]``
before ``T``, so ``start < T``; one that saw B was answered after, so ``end >= T``. Hence

    T in (start of the last A request, end of the first B request]

which DESIGN.md calls the bracket: for a recovery (A = bad, B = good) it is "start of the last
bad, end of the first good"; for an impact (A = good, B = bad) "start of the last good, end of
the first bad". Its midpoint is the bracketed instant and its half-width the resolution.

**Which requests.** Those within one window either side of the window-based instant (the same
neighbourhood the window resolution looks at), classified as the health judge does: bad =
failed, or slower than the SLO's tightest latency bound.

**Noise.** A real transition is not always clean: a stray failure after a recovery, one slow
success before it. Every candidate ``T`` is scored by the requests that contradict it (A
requests sent at or after ``T``, B requests ended before ``T``); the bracket is the stretch of
minimal contradiction nearest the window instant, and the count of contradicting requests is
reported with it. A clean transition has none, and then the bracket is exactly the one above.
None when the neighbourhood holds no request on one side (silence: the window figure, with its
wider resolution, is all there is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.measure.samples import JudgedSamples


@dataclass(frozen=True)
class Bracket:
    """One transition bracketed by requests. Times are seconds relative to the run's start.

    ``lower`` is the start of the last request that saw the old state, ``upper`` the end of the
    first that saw the new one; the transition lies in ``(lower, upper]``. ``contradicting`` is
    the number of nearby requests that disagree with it (0 for a clean transition).
    """

    kind: str  # "impact" (healthy -> unhealthy) or "recovery" (unhealthy -> healthy)
    lower: float
    upper: float
    contradicting: int

    @property
    def at(self) -> float:
        """The bracketed instant: the bracket's midpoint."""
        return (self.lower + self.upper) / 2

    @property
    def half_width(self) -> float:
        """The bracket's resolution: the truth is within this of :attr:`at`."""
        return (self.upper - self.lower) / 2

    def to_dict(self) -> dict[str, float | int | str]:
        return {
            "kind": self.kind,
            "at": self.at,
            "half_width": self.half_width,
            "lower": self.lower,
            "upper": self.upper,
            "contradicting": self.contradicting,
        }


def bracket_transition(placed: JudgedSamples, near: float, radius: float, kind: str) -> Bracket | None:
    """Bracket the ``kind`` transition ("impact" or "recovery") nearest ``near`` (see the module).

    ``placed`` comes from :func:`harness.measure.samples.judged` (it carries the bad/good
    classification); requests whose span meets ``[near - radius, near + radius]`` are used.
    """
    if kind not in ("impact", "recovery"):
        raise ValueError(f"kind must be 'impact' or 'recovery' (got {kind!r})")
    lo, hi = near - radius, near + radius
    inside = (placed.end >= lo) & (placed.start <= hi)
    bad = placed.bad[inside]
    before_state = bad if kind == "recovery" else ~bad  # A: the state the transition leaves
    a_starts = np.sort(placed.start[inside][before_state])
    b_ends = np.sort(placed.end[inside][~before_state])
    if a_starts.size == 0 or b_ends.size == 0:
        return None
    # Score every elementary interval (p_i, p_{i+1}] of the breakpoints; on it the
    # contradictions are #A with start >= p_{i+1} plus #B with end <= p_i.
    points = np.unique(np.concatenate((a_starts, b_ends)))
    left = np.concatenate(([-math.inf], points))
    right = np.concatenate((points, [math.inf]))
    a_late = a_starts.size - np.searchsorted(a_starts, right, side="left")
    b_early = np.searchsorted(b_ends, left, side="right")
    score = a_late + b_early
    best = int(score.min())
    ok = np.flatnonzero(score == best)
    # join adjacent minimal intervals into runs, then take the run nearest `near`
    breaks = np.flatnonzero(np.diff(ok) > 1)
    run_first = np.concatenate(([ok[0]], ok[breaks + 1]))
    run_last = np.concatenate((ok[breaks], [ok[-1]]))
    lowers, uppers = left[run_first], right[run_last]
    distance = np.where(near < lowers, lowers - near, np.where(near > uppers, near - uppers, 0.0))
    pick = int(np.argmin(distance))
    lower, upper = float(lowers[pick]), float(uppers[pick])
    if not (math.isfinite(lower) and math.isfinite(upper)):
        return None  # every request nearby agrees with one state only: nothing to bracket
    return Bracket(kind=kind, lower=lower, upper=upper, contradicting=best)
