"""The SLO as the health judgement reads it: window, step, bounds and hold, checked once.

It lives with the scenario (it is the scenario's ``slo:`` made exact) and imports nothing heavy, so
validating a scenario never loads numpy; :mod:`harness.measure.health` judges windows with it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class HealthPolicy:
    """The SLO that decides whether a window is healthy (DESIGN.md, "Health").

    ``window``, ``step`` and ``hold`` are seconds; latency bounds are seconds or None (no bound).
    ``hold`` must be at least one window (a recovery must show a whole healthy window) and
    ``step`` at most one window (else the grid would skip instants and impacts could hide).
    """

    window: float = 1.0
    step: float = 0.1
    success_rate: float = 0.99
    p95_latency: float | None = None
    p99_latency: float | None = None
    hold: float = 5.0

    def __post_init__(self) -> None:
        problems: list[str] = []
        if not (math.isfinite(self.window) and self.window > 0):
            problems.append(f"window must be a positive number of seconds (got {self.window!r})")
        if not (math.isfinite(self.step) and self.step > 0):
            problems.append(f"step must be a positive number of seconds (got {self.step!r})")
        if not (0.0 <= self.success_rate <= 1.0):
            problems.append(f"success_rate must be within [0, 1] (got {self.success_rate!r})")
        for name in ("p95_latency", "p99_latency"):
            bound = getattr(self, name)
            if bound is not None and not (math.isfinite(bound) and bound > 0):
                problems.append(f"{name} must be a positive number of seconds or None (got {bound!r})")
        if not (math.isfinite(self.hold) and self.hold >= self.window):
            problems.append(
                f"hold must be at least one window (got hold={self.hold!r}, window={self.window!r}); "
                "raise hold or shorten window"
            )
        if self.step > self.window:
            problems.append(
                f"step must not exceed window (got step={self.step!r}, window={self.window!r}); "
                "with gaps between windows an outage could fall between them"
            )
        if problems:
            raise ValueError("invalid health policy: " + "; ".join(problems))

    @property
    def slow_above(self) -> float | None:
        """The tightest latency bound: a request slower than this is evidence of a bad service.

        Such a request is placed at its start, as a failure is (see the module docstring).
        """
        bounds = [b for b in (self.p95_latency, self.p99_latency) if b is not None]
        return min(bounds) if bounds else None

    @property
    def edge_slack(self) -> float:
        """How much of a window may be bad while the window still passes (seconds).

        A window passes with up to ``1 - success_rate`` of its requests failing, up to 5 % slow
        under a p95 bound and 1 % under a p99 bound; so the healthy coverage of a sharp
        transition can reach that far into the bad stretch. ``step`` plus this bounds how far
        an edge (or a recovery found on the grid) can be misplaced on dense, evenly spread
        requests; sparse requests add their largest gap.
        """
        shares = [1.0 - self.success_rate]
        if self.p95_latency is not None:
            shares.append(0.05)
        if self.p99_latency is not None:
            shares.append(0.01)
        return self.window * max(shares)
