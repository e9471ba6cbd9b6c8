"""What the run asked for: the SLO, the expectations and the scenario as actually run."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from harness.results.base import Frozen, Seconds
from harness.results.operations import AlertsExpect


class Slo(Frozen):
    """What healthy meant in this run (DESIGN.md, Health). Durations in seconds."""

    window: Seconds = Field(
        description=(
            "Length of a health window: a window holds the requests that count in it (a failed or too "
            "slow request where it was sent, a good one where it ended)."
        )
    )
    step: Seconds = Field(
        description="How often a window is evaluated (the grid step); part of every figure's resolution."
    )
    success_rate: float = Field(description="Minimum share of a window's completed requests that must be ok.")
    p95_latency: Seconds | None = Field(
        None, description="Bound on a window's 95th-percentile latency; null when not set."
    )
    p99_latency: Seconds | None = Field(
        None, description="Bound on a window's 99th-percentile latency; null when not set."
    )
    hold: Seconds = Field(description="How long health must hold, without a break, to count as recovered.")
    baseline: Seconds | None = Field(
        None, description="How long the SLO must hold before the first fault; null means hold."
    )


Bound = Annotated[
    str,
    Field(
        description='A bound as the scenario stated it: operator, space, value ("<= 4s", "<= 0.05", "<= 0").'
    ),
]


class Expect(Frozen):
    """The expectations the scenario stated (unstated ones are absent: measured, not asserted)."""

    recovery_time: Bound | dict[str, Bound] | None = Field(
        None,
        description=(
            "Bound on each fault's recovery time (MTTR), or on its distribution over trials "
            "({median|p95|max: bound})."
        ),
    )
    time_to_impact: Bound | None = Field(
        None, description="Bound on each fault's time to impact, in seconds."
    )
    outage: Bound | None = Field(
        None, description="Bound on each fault's outage (unhealthy time), in seconds."
    )
    error_rate_during_fault: Bound | None = Field(
        None,
        description=(
            "Bound on the share (0..1) of requests completed while the fault was active that were not ok."
        ),
    )
    recovered: bool | None = Field(
        None, description="Whether every fault must be recovered from (true) or must not be (false)."
    )
    lost_writes: Bound | None = Field(
        None, description="Bound on acknowledged writes absent from the audit, per trial."
    )
    duplicate_writes: Bound | None = Field(
        None, description="Bound on writes applied more than once, per trial."
    )
    corrupted_writes: Bound | None = Field(
        None, description="Bound on effects whose value differs from what the client sent, per trial."
    )
    phantom_writes: Bound | None = Field(
        None, description="Bound on effects of definitely failed writes that are present, per trial."
    )
    stuck: Bound | None = Field(
        None,
        description=(
            "Bound on work accepted but unfinished after the drain wait (plus work still pending), per trial."
        ),
    )
    rollback_duration: Bound | None = Field(
        None,
        description=(
            "Bound on each trial's rollback duration (trigger to recovery with the version "
            "confirmed), in seconds."
        ),
    )
    detection_to_rollback: Bound | None = Field(
        None, description="Bound on each trial's time from first impact to the rollback trigger, in seconds."
    )
    data_restored: bool | None = Field(
        None,
        description=(
            "Whether no lost, duplicated or corrupted write may remain after a rollback (stated; "
            "unstated means true for a scenario with a rollback)."
        ),
    )
    backlog_recovery_time: Bound | None = Field(
        None, description="Bound on each fault's backlog recovery time, in seconds."
    )
    cycle_time_p95: Bound | None = Field(
        None, description="Bound on each fault's p95 cycle time during and after it, in seconds."
    )
    time_to_detect: Bound | None = Field(
        None, description="Bound on each fault's time to detect by the target's own alerting, in seconds."
    )
    alerts: AlertsExpect | None = Field(None, description="What the target's alerting must do per fault.")

    def stated(self) -> bool:
        return any(v is not None for v in self.model_dump().values())


class AsRun(Frozen):
    """The scenario as actually run: the scenario file plus the command line's overrides."""

    mode: str | None = Field(
        None, description="The target mode the run used (e.g. fragile); null for the target's default."
    )
    trials: int = Field(description="Trials planned.")
    seed: int = Field(description="Seed of every random choice.")
    backend: str = Field(description="process, docker or compose.")
    load_workers: int = Field(1, description="Locust worker processes (1: no distributed mode).")
    remote_workers: int = Field(0, description="Load workers on other machines the load waited for.")
    overrides: dict[str, str | int] = Field(
        default_factory=dict,
        description="What the command line changed (backend, trials, seed, mode, load_workers), by name.",
    )
    env: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description=(
            "Environment handed to each service on top of its own (the mode's, then the scenario's), "
            "by service."
        ),
    )
    rollback: str | None = Field(
        None, description="The scenario's rollback trigger (manual or automatic); null if it has no rollback."
    )
    owner: str | None = Field(
        None, description="The scenario's `owner:` (who owns its action items); null if unstated."
    )
    runbook: str | None = Field(
        None, description="The scenario's `runbook:` (URL or path); null if unstated."
    )
