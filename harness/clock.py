"""The one clock of a run.

Every process of a run (orchestrator, Locust, the fault scheduler) stamps events with
``time.monotonic_ns()``. On Linux that is ``CLOCK_MONOTONIC``, which is system-wide, so stamps
taken in different processes on one machine are directly comparable. Reports show times
relative to the run's start.
"""

from __future__ import annotations

import time

CLOCK_NAME = "CLOCK_MONOTONIC (time.monotonic_ns, system-wide on Linux)"


def now_ns() -> int:
    """Nanoseconds on the run clock."""
    return time.monotonic_ns()


def ns_to_s(ns: int) -> float:
    return ns / 1e9
