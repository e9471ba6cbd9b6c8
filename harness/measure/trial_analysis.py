"""What one trial's analysis holds: the measurements every reporter and the result assembly read.

Its own module so that the pieces analysis calls (the ledger's figures, the result assembly) and the
reporters name it without importing :mod:`harness.analysis`, which imports them."""

from __future__ import annotations

from dataclasses import dataclass

from harness.measure.baseline import Baseline
from harness.measure.business import WorkLog
from harness.measure.health import HealthTimeline
from harness.measure.rollback import RollbackMeasurement
from harness.measure.samples import RequestSamples
from harness.results import FaultResult, LoadResult, Verdict


@dataclass
class TrialAnalysis:
    """Everything measured for one trial; the HTML report draws its plots from this."""

    trial: int
    samples: RequestSamples
    timeline: HealthTimeline | None
    observe_from: float | None
    observe_to: float | None
    faults: list[FaultResult]
    verdicts: list[Verdict]
    load: LoadResult
    rollback: RollbackMeasurement | None = None
    baseline: Baseline | None = None
    work: WorkLog | None = None  # the audit's work items (backlog over time), if it reports them
