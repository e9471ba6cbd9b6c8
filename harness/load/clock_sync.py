"""A remote load worker's clock offset to the harness, from round trips (NTP's arithmetic).

Why: every ledger stamp is ``CLOCK_MONOTONIC``, which is comparable only on one machine. A Locust
worker on another host stamps its requests on its own clock; the harness (the Locust master runs
beside it, on the run's clock) measures how far that clock is from its own and shifts the
worker's shard by it before any analysis.

One round trip: the master stamps ``t0`` and sends a ping; the worker stamps ``t1`` on receipt
and ``t2`` when it answers; the master stamps ``t3`` on receipt of the answer. With ``theta`` the
worker clock minus the harness clock and ``d1``, ``d2 >= 0`` the one-way delays,
``t1 = t0 + theta + d1`` and ``t3 = t2 - theta + d2``, so::

    offset = ((t1 - t0) + (t2 - t3)) / 2 = theta + (d1 - d2) / 2
    rtt    = (t3 - t0) - (t2 - t1)       = d1 + d2

and the true offset lies within ``offset +- rtt / 2`` whatever the asymmetry: a hard bound, not a
statistical one. If the offset is constant over the run, it lies in every sample's interval, so
in their intersection, which is never wider than the best (smallest round trip) sample's. If the
intervals do not intersect, the offset moved during the run (clock drift, a clock step): the
estimate is then the best sample's and the stated uncertainty widens to cover the best samples'
whole spread, so the bound stays honest for every stamp of the run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

#: How many of the smallest-round-trip samples are kept (and reported).
KEEP_BEST = 8
#: ``clock-<worker>.json``: the estimate the Locust master wrote for one remote worker.
CLOCK_GLOB = "clock-*.json"


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One ping: ``t0``/``t3`` on the harness clock, ``t1``/``t2`` on the worker's (nanoseconds)."""

    t0: int
    t1: int
    t2: int
    t3: int

    @property
    def rtt(self) -> int:
        return (self.t3 - self.t0) - (self.t2 - self.t1)

    @property
    def offset(self) -> float:
        """Worker clock minus harness clock (ns), to within :attr:`radius`."""
        return ((self.t1 - self.t0) + (self.t2 - self.t3)) / 2

    @property
    def radius(self) -> float:
        return self.rtt / 2


@dataclass(frozen=True, slots=True)
class OffsetEstimate:
    """The worker's clock minus the harness's, and how far from it the truth can be (ns).

    ``consistent`` is False when the samples' intervals do not intersect (the offset moved during
    the run); the uncertainty then covers the spread of the best samples.
    """

    offset_ns: int
    uncertainty_ns: int
    best_rtt_ns: int
    samples: int
    consistent: bool

    def to_harness(self, worker_ns: int) -> int:
        """A worker stamp on the harness clock."""
        return worker_ns - self.offset_ns


class OffsetEstimator:
    """Collects round trips for one worker; :meth:`estimate` at any time. Pure logic."""

    def __init__(self, keep: int = KEEP_BEST) -> None:
        self.keep = keep
        self.best: list[RoundTrip] = []  # the smallest round trips, smallest first
        self.count = 0
        self._lo = float("-inf")  # the intersection of every sample's interval
        self._hi = float("inf")

    def add(self, sample: RoundTrip) -> None:
        """Take one round trip. A negative round trip is impossible (a stamp bug): refused."""
        if sample.rtt < 0 or sample.t3 < sample.t0 or sample.t2 < sample.t1:
            raise ValueError(f"impossible round trip {sample}: the clocks went backwards")
        self.count += 1
        self._lo = max(self._lo, sample.offset - sample.radius)
        self._hi = min(self._hi, sample.offset + sample.radius)
        self.best.append(sample)
        self.best.sort(key=lambda s: s.rtt)
        del self.best[self.keep :]

    def estimate(self) -> OffsetEstimate | None:
        """The offset with its bound; None before the first round trip."""
        if not self.best:
            return None
        best = self.best[0]
        if self._lo <= self._hi:
            offset = (self._lo + self._hi) / 2
            radius = (self._hi - self._lo) / 2
            consistent = True
        else:
            offset = best.offset
            radius = max(abs(s.offset - offset) + s.radius for s in self.best)
            consistent = False
        return OffsetEstimate(
            offset_ns=round(offset),
            # rounding the offset to whole ns moves it by up to 0.5 ns; the bound covers that
            uncertainty_ns=int(radius) + 1,
            best_rtt_ns=best.rtt,
            samples=self.count,
            consistent=consistent,
        )


def shift_row(row: list[str], est: OffsetEstimate, worker: str) -> list[str]:
    """A remote worker's ledger row (CSV fields) on the run's clock, its id prefixed with the
    worker (ids are unique only per process, and two machines may share a pid)."""
    out = list(row)
    out[0] = f"{worker}:{row[0]}"
    out[3] = str(est.to_harness(int(row[3])))
    out[4] = str(est.to_harness(int(row[4])))
    return out


@dataclass(frozen=True, slots=True)
class WorkerClock:
    """What the master states for one remote worker (``clock-<worker>.json`` in the trial dir)."""

    worker: str
    host: str
    offset_ns: int
    uncertainty_ns: int
    best_rtt_ns: int
    samples: int
    consistent: bool
    final: bool  # False while the run goes on (a running estimate), True once the shard is shifted

    def write(self, trial_dir: Path) -> None:
        path = trial_dir / f"clock-{self.worker}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self)))
        tmp.replace(path)


def read_clocks(trial_dir: Path) -> list[WorkerClock]:
    """Every remote worker's clock statement in a trial directory (none without remote workers)."""
    out = []
    for path in sorted(trial_dir.glob(CLOCK_GLOB)):
        try:
            out.append(WorkerClock(**json.loads(path.read_text())))
        except (OSError, ValueError, TypeError):
            continue  # a statement being replaced right now: the next look reads it
    return out


def widen_resolution(resolution: dict[str, float], clock: float) -> dict[str, float]:
    """A fault's resolutions with the remote clocks' uncertainty added (seconds; DESIGN.md, "Clock
    across machines"): once per instant read off the requests, twice for the outage (two edges,
    possibly stamped by different workers). ``cleared_at`` is the journal's, on the run's clock."""
    twice = {"outage"}
    return {k: v + (2 * clock if k in twice else clock) for k, v in resolution.items()}


def clock_uncertainty(trial_dir: Path) -> float:
    """The largest remote worker's clock uncertainty in seconds (0 when all load ran beside the
    harness): every stamp of the merged ledger is on the run's clock to within this."""
    return max((c.uncertainty_ns for c in read_clocks(trial_dir)), default=0) / 1e9
