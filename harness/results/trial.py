"""One trial: its faults, its data consistency, its rollback, and a harness failure if any."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.results.base import Frozen
from harness.results.failures import FailureBreakdown
from harness.results.fault import FaultResult, LoadResult


class ConsistencyResult(Frozen):
    """Ledger (what clients were told) against audit (what the system kept), per DESIGN.md's
    Consistency definitions. Keys are idempotency keys."""

    writes: int = Field(0, description="Write operations (distinct idempotency keys) in the ledger.")
    acknowledged: int = Field(0, description="Writes with at least one success answer.")
    definitely_failed: int = Field(0, description="Writes whose every attempt failed definitely.")
    indeterminate: int = Field(0, description="Writes with no clear answer; never counted as lost.")
    lost: int = Field(0, description="Acknowledged writes whose primary effect is absent from the audit.")
    duplicated: int = Field(0, description="Writes with more than one effect of a kind.")
    corrupted: int = Field(0, description="Effects present with a value different from what the client sent.")
    phantom: int = Field(0, description="Effects of definitely failed writes that are present.")
    indeterminate_present: int = Field(0, description="Indeterminate writes whose effect is present.")
    indeterminate_absent: int = Field(0, description="Indeterminate writes whose effect is absent.")
    stuck: int = Field(0, description="Primary effects not in the final status after the drain wait.")
    pending: int = Field(0, description="Work the target still reported pending after the drain wait.")
    unledgered: int = Field(
        0, description="Effects in the audit whose key the ledger never saw: a harness error (exit 3)."
    )
    unledgered_keys: list[str] = Field(
        default_factory=list, description="The keys of the unledgered effects (up to a few)."
    )
    effects: dict[str, int] = Field(
        default_factory=dict, description="Effects found in the audit, counted by kind."
    )
    examples: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Up to 5 examples (keys and ids) per category, to start an investigation from.",
    )


class DataAfterRollback(Frozen):
    """What the rollback did not undo: data damage that remains once the service is restored."""

    lost: int = Field(description="Acknowledged writes lost.")
    duplicated: int = Field(description="Writes applied more than once.")
    corrupted: int = Field(description="Writes stored with a wrong value.")
    clean: bool = Field(description="No lost, duplicated or corrupted write remains.")


class RollbackResult(Frozen):
    """The trial's rollback (DESIGN.md: rollback_duration, detection_to_rollback). Times are
    run-relative seconds."""

    triggered_at: float = Field(description="When the rollback was triggered (journal).")
    reason: str = Field(
        description=(
            "Why it was triggered (manual at a time, or automatic after the SLO was violated long enough)."
        )
    )
    action: str = Field(description="How it rolled back: redeploy, flag or command.")
    action_ok: bool = Field(description="Whether the rollback action itself succeeded.")
    action_duration: float | None = Field(
        description="From the trigger until the action finished; null if it never finished."
    )
    confirmed_at: float | None = Field(
        description="When the service was confirmed at the rolled-back version; null if never."
    )
    recovered_at: float | None = Field(
        description=(
            "Recovery instant measured from the trigger (same definition as a fault's recovered_at); "
            "null if not recovered."
        )
    )
    rollback_duration: float | None = Field(
        description=(
            "max(recovered_at, confirmed_at) - triggered_at; null when the action failed, the version"
            " was never confirmed or the service did not recover."
        )
    )
    detection_to_rollback: float | None = Field(
        description="triggered_at minus the first impact; null if there was no impact."
    )
    impact_at: float | None = Field(
        description="The first impact the detection is measured from; null if none."
    )
    resolution: float = Field(description="Uncertainty in seconds of recovered_at and rollback_duration.")
    budget: float = Field(description="Automated-recovery budget in seconds this rollback is judged against.")
    escalated: bool = Field(
        description="True if the rollback did not complete or took longer than the budget: a human is needed."
    )
    note: str = Field(description="Why a figure is missing (empty when none is).")
    data_after_rollback: DataAfterRollback | None = Field(
        None,
        description=(
            "Data damage left after the rollback (when the target has a consistency contract); null "
            "otherwise."
        ),
    )


class HarnessFailure(Frozen):
    """Toxiproxy, Locust or the harness itself failed during the trial: no verdict about the target."""

    component: str = Field(description="What failed: toxiproxy, locust, harness, audit, ledger...")
    detail: str = Field(description="What was seen, in words.")
    at: float | None = Field(None, description="When it failed (run-relative seconds), if known.")
    last_alive: float | None = Field(
        None,
        description=(
            "The watchdog's last look at which it was alive (run-relative seconds): it failed in "
            "(last_alive, at]; null when not watched."
        ),
    )


class BaselineResult(Frozen):
    """DESIGN.md Baseline: the SLO must hold for slo.baseline (default slo.hold) between the start
    of load and the first injection; and the request rate achieved against the one asked."""

    outcome: Literal["healthy", "unhealthy_before_fault", "not_judged"] = Field(
        description=(
            "unhealthy_before_fault: the SLO never held for the required time before the first "
            "fault, so the trial has no recovery verdict (exit code 5)."
        )
    )
    asked: float = Field(description="slo.baseline (or slo.hold), seconds.")
    required: float = Field(
        description=(
            "Seconds of health required: slo.baseline, or the whole stretch before the first fault "
            "when that is shorter (see note)."
        )
    )
    judged_from: float = Field(description="Start of the judged stretch: the start of load.")
    judged_to: float = Field(
        description="End of the judged stretch: the first injection, or the end of load."
    )
    held_from: float | None = Field(
        description="Earliest t with the SLO held over [t, t + required]; null if never."
    )
    healthy: bool | None = Field(
        description=(
            "Whether the baseline held; null when not judged (less than a window before the first fault)."
        )
    )
    note: str = Field(
        description=(
            "Why the required time differs from the asked one, or why nothing was judged; empty otherwise."
        )
    )
    rate_asked: float = Field(description="Requests per second asked: users * rate_per_user.")
    rate_achieved: float | None = Field(description="Requests sent per second over the judged stretch.")
    rate_short: bool = Field(
        description="Achieved below 90 % of asked: the load generator, not the target, may be the bottleneck."
    )
    rate_warning: str | None = Field(description="The warning printed when rate_short; null otherwise.")


class OomKill(Frozen):
    """A process of a service's container killed by the kernel's OOM killer (an ``oom`` fault, or
    a memory limit the service outgrew), as Docker saw the container then."""

    service: str = Field(description="The service whose container's memory cgroup counted the kill.")
    at: float = Field(description="When it was seen, in seconds since the run started.")
    seen_by: str = Field(description="fault (an oom fault brought it about) or teardown (found at the end).")
    oom_killed: bool = Field(description="Docker's State.OOMKilled: the container itself ended by the kill.")
    exit_code: int | None = Field(
        description="137 (128 + SIGKILL) once the container exited; null if it ran on."
    )
    status: str = Field(description="The container's status then (running: only a child process was killed).")
    memory_limit: int | None = Field(description="The container's memory limit then, in bytes.")


class TrialResult(Frozen):
    """One trial. A trial whose measurement failed has only trial, faults (empty) and measurement_error."""

    trial: int = Field(description="Trial number, from 1; also the trial-N directory.")
    load: LoadResult | None = Field(
        None, description="The load of this trial; null if its measurement failed."
    )
    faults: list[FaultResult] = Field(
        default_factory=list, description="Every fault injected while load was observed, in injection order."
    )
    rollback: RollbackResult | None = Field(
        None,
        description=(
            "The rollback of this trial; null when none happened or the scenario has none (see "
            "as_run.rollback)."
        ),
    )
    consistency: ConsistencyResult | None = Field(
        None,
        description=(
            "The ledger reconciled with the target's audit; null when the target declares no "
            "consistency contract or there was no audit to reconcile."
        ),
    )
    measurement_error: str | None = Field(
        None, description="Why this trial could not be measured (the run's error repeats it)."
    )
    harness_failure: HarnessFailure | None = Field(
        None,
        description="The harness failure that voids this trial's verdict about the target; null if none.",
    )
    failures: FailureBreakdown | None = Field(
        None,
        description=(
            "Failed requests per operation and status / error class (count, share, first and last seen,"
            " during which fault) and the three most common error texts; null if not measured."
        ),
    )
    baseline: BaselineResult | None = Field(
        None, description="Health and request rate before the first fault; null if the load was not observed."
    )
    oom_kills: list[OomKill] = Field(
        default_factory=list,
        description="OOM kills the kernel made in the target's containers during the trial.",
    )

    @property
    def unhealthy_before_fault(self) -> bool:
        """The target never met its SLO before the first fault: no recovery verdict for this trial."""
        return self.baseline is not None and self.baseline.outcome == "unhealthy_before_fault"
