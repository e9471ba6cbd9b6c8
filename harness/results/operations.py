"""Result models of the operations view: business recovery and detection of one fault.

Part of :class:`harness.results.fault.FaultResult` (``business``, ``detection``); built from
:mod:`harness.measure.business` and :mod:`harness.measure.detection`, whose docstrings hold the
definitions (README, What is measured). Times are run-relative seconds; durations are numbers.
"""

from __future__ import annotations

from pydantic import Field

from harness.results.base import Frozen as _Frozen


class CycleResult(_Frozen):
    """Cycle time (finished - accepted) of the work finished in one window."""

    start: float = Field(description="Window start, seconds.")
    end: float = Field(description="Window end, seconds.")
    finished: int = Field(description="Work items finished in the window.")
    p50: float | None = Field(description="Median cycle time, seconds; null when none finished.")
    p95: float | None = Field(description="95th percentile cycle time, seconds; null when none finished.")


class CycleWindows(_Frozen):
    before: CycleResult = Field(description="The baseline: load start to the first injection.")
    during: CycleResult = Field(description="From the injection to the clear.")
    after: CycleResult = Field(description="From the clear to the end of the observation (the audit).")


class BusinessResolution(_Frozen):
    backlog_recovery_time: float = Field(
        description="Uncertainty of backlog_recovered_at and backlog_recovery_time, seconds."
    )


class BusinessResult(_Frozen):
    """When the work recovered, read off the work items of the target's audit."""

    baseline_backlog: int = Field(
        description="Top of the baseline range: the highest backlog from load start to the first injection."
    )
    backlog_at_clear: int = Field(description="Backlog (accepted, not finished) when the fault was cleared.")
    max_backlog: int = Field(
        description="Highest backlog from the injection to the business recovery (or the end)."
    )
    left_range_at: float | None = Field(
        description="First instant after the injection with the backlog above its baseline range (the "
        "business impact); null if never."
    )
    backlog_recovered_at: float | None = Field(
        description="Earliest t >= cleared_at from which the backlog stays within the baseline range for "
        "`hold`; null if not recovered."
    )
    backlog_recovery_time: float | None = Field(
        description="backlog_recovered_at - cleared_at; null = not recovered (fails its expectation)."
    )
    backlog_recovered: bool = Field(description="Whether backlog_recovered_at was found.")
    cycle_time_p95: float | None = Field(
        description="The worse p95 cycle time of the 'during' and 'after' windows, seconds."
    )
    cycle_time: CycleWindows = Field(description="Cycle time before, during and after the fault.")
    retries: int = Field(description="Attempts beyond the first of the work in the backlog during the fault.")
    stuck_ratio: float | None = Field(
        description="Share of the work accepted by the end of the observation still unfinished then."
    )
    unfinished_at_end: int = Field(description="Work items unfinished at the end of the observation.")
    resolution: BusinessResolution = Field(description="Uncertainty of each figure, seconds.")
    work_items: int = Field(description="Work items in the audit.")


class AlertResult(_Frozen):
    """One alert (by fingerprint) that fired in the fault's span."""

    name: str = Field(description="alertname")
    symptom: bool = Field(description='Labelled symptom: "true": it watches a user-facing SLI.')
    severity: str = Field(description="Its severity label.")
    fired_at: float = Field(description="First firing notification received, seconds.")
    resolved_at: float | None = Field(
        description="Resolved notification received; null if not while observed."
    )
    runbook_url: str | None = Field(description="Its runbook_url annotation.")
    runbook: bool = Field(description="The runbook_url resolves to a file the target ships.")
    runbook_note: str = Field(description="The runbook file found, or why it does not resolve.")
    escalate: bool = Field(description="Firing for escalate_after or longer: needs a human (ESCALATE).")


class DetectionResolution(_Frozen):
    time_to_detect: float = Field(description="Uncertainty of time_to_detect (that of the impact), seconds.")
    time_to_resolve: float = Field(
        description="Uncertainty of time_to_resolve (that of recovered_at), seconds."
    )


class DetectionResult(_Frozen):
    """When the target's own alerting noticed, from its real Alertmanager's notifications."""

    impact_at: float | None = Field(
        description="First impact: the earlier of the HTTP impact and the backlog leaving its range."
    )
    detected: bool = Field(description="At least one alert fired in the fault's span.")
    detected_at: float | None = Field(description="First firing notification received, seconds.")
    time_to_detect: float | None = Field(
        description="detected_at - impact_at, seconds (negative: a cause alert fired before any impact)."
    )
    time_to_detect_symptom: float | None = Field(
        description="First symptom alert received - impact_at, seconds."
    )
    recovered_at: float | None = Field(description="The later of HTTP recovered_at and backlog_recovered_at.")
    resolved_at: float | None = Field(description="The last resolved notification of the fault's alerts.")
    time_to_resolve: float | None = Field(description="resolved_at - recovered_at, seconds.")
    symptom: bool = Field(description="At least one symptom alert fired.")
    runbook: bool = Field(description="Every alert that fired has a runbook the target ships.")
    resolved: bool = Field(description="Every alert that fired was resolved while observed.")
    noise: int = Field(description="Alerts that fired without a runbook the target ships.")
    escalate: list[str] = Field(description="Alerts labelled ESCALATE.")
    alerts: list[AlertResult] = Field(description="Every alert that fired, in order.")
    resolution: DetectionResolution = Field(description="Uncertainty of each figure, seconds.")


class AlertsExpect(_Frozen):
    """What the target's alerting must do for every fault."""

    symptom: bool | None = Field(None, description="A symptom alert fired.")
    runbook: bool | None = Field(None, description="Every firing alert has a shipped runbook.")
    resolved: bool | None = Field(None, description="Every alert that fired was resolved.")
