"""Rollback figures, as DESIGN.md defines them (binding).

* ``rollback_duration`` = from the rollback trigger (journal) to ``recovered_at`` measured from that
  trigger, with the service confirmed at the rolled-back version: ``max(recovered_after_trigger,
  confirmed_at) - triggered_at``. A rollback whose action failed, or whose version was never
  confirmed, has no duration: it did not roll back.
* ``detection_to_rollback`` = trigger minus the first impact (of the deploy, when there is one).
* **escalation**: a recovery longer than its budget (default 3 minutes) needs a human.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.measure.health import HealthTimeline
from harness.measure.recovery import boundary_resolution, recovered_at
from harness.measure.samples import RequestSamples

DEFAULT_BUDGET = 180.0


@dataclass(frozen=True)
class RollbackMeasurement:
    triggered_at: float
    reason: str
    action: str
    action_ok: bool
    action_duration: float | None
    confirmed_at: float | None
    recovered_at: float | None
    rollback_duration: float | None
    detection_to_rollback: float | None
    impact_at: float | None
    resolution: float
    budget: float
    escalated: bool
    note: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_rollback(
    timeline: HealthTimeline,
    samples: RequestSamples,
    *,
    triggered_at: float,
    reason: str,
    action: str,
    action_ok: bool,
    action_done_at: float | None,
    confirmed_at: float | None,
    impact_at: float | None,
    budget: float = DEFAULT_BUDGET,
    action_error: str = "",
) -> RollbackMeasurement:
    recovered = recovered_at(timeline, triggered_at)
    note = ""
    duration: float | None = None
    if not action_ok:
        note = "the rollback action failed" + (f": {action_error}" if action_error else "")
    elif confirmed_at is None:
        note = "the rolled-back version was never confirmed"
    elif recovered is None:
        note = "the service did not recover after the rollback before the observation ended"
    else:
        duration = max(recovered, confirmed_at) - triggered_at
    end = recovered if recovered is not None else timeline.observe_to
    resolution = boundary_resolution(samples, timeline.policy, end)
    escalated = duration is None or duration > budget
    return RollbackMeasurement(
        triggered_at=triggered_at,
        reason=reason,
        action=action,
        action_ok=action_ok,
        action_duration=None if action_done_at is None else action_done_at - triggered_at,
        confirmed_at=confirmed_at,
        recovered_at=recovered,
        rollback_duration=duration,
        detection_to_rollback=None if impact_at is None else triggered_at - impact_at,
        impact_at=impact_at,
        resolution=resolution,
        budget=budget,
        escalated=escalated,
        note=note,
    )
