"""Verdicts, MTTR over trials and escalation: what the run concluded."""

from __future__ import annotations

from pydantic import Field

from harness.results.base import Frozen


class Verdict(Frozen):
    """One expectation judged against one fault of one trial (or, for data expectations, one trial)."""

    expectation: str = Field(
        description=(
            "Which expectation: recovery_time, time_to_impact, outage, error_rate_during_fault, "
            "recovered, lost_writes, duplicate_writes, corrupted_writes, phantom_writes, stuck, "
            "rollback_duration, detection_to_rollback, recovery_time.median|p95|max (more may be "
            "added)."
        )
    )
    trial: int = Field(description="Trial number; 0 for a verdict over all trials.")
    fault: str = Field(
        description=(
            'The fault\'s label; "data" for a consistency expectation; "rollback" for a rollback expectation.'
        )
    )
    target: str = Field(description='The bound as stated ("<= 4s"), or "true"/"false" for recovered.')
    measured: bool | int | float | None = Field(
        description=(
            "The measured value (seconds, share, count, or yes/no); null when missing (not recovered,"
            " never impacted, no request completed, no audit, no rollback)."
        )
    )
    measured_text: str = Field(
        description="The measured value as printed: rounded to its resolution, or the reason it is missing."
    )
    passed: bool = Field(
        description=(
            "Whether the expectation was met. A missing measurement is judged as the worst case for "
            "the bound."
        )
    )
    margin: float | None = Field(
        description=(
            "How far inside (+) or outside (-) the bound, in the measurement's unit; null when it "
            "cannot be computed."
        )
    )
    resolution: float | None = Field(
        None, description="Uncertainty of measured, in seconds; null for values that are not instants."
    )
    observed: bool = Field(
        True,
        description=(
            "False: the user stopped the run before this could be measured. passed is then false, "
            "but it says nothing about the target (JUnit: skipped, not failed)."
        ),
    )


class TrialValue(Frozen):
    """One trial's recovery time of a fault."""

    trial: int = Field(description="trial number")
    recovery_time: float | None = Field(description="seconds; null if not recovered")
    resolution: float | None = Field(description="uncertainty of that trial's figure, seconds")


class MttrResult(Frozen):
    """MTTR over trials for one fault of the scenario: numpy 'linear' percentiles; a trial that did
    not recover counts as infinite, shown as null."""

    fault: str = Field(description="the fault's label")
    index: int = Field(description="the fault's position in the scenario")
    values: list[TrialValue] = Field(description="each trial's recovery time")
    trials: int = Field(description="how many trials measured this fault")
    median: float | None = Field(description="median recovery time, seconds (null: infinite)")
    p95: float | None = Field(description="95th percentile recovery time, seconds (null: infinite)")
    max: float | None = Field(description="largest recovery time, seconds (null: a trial did not recover)")
    all_recovered: bool = Field(description="every trial recovered")
    resolution: float | None = Field(description="the largest resolution among the trials, seconds")


class Escalation(Frozen):
    """DESIGN.md's escalation: whether a recovery (or a rollback) took longer than the
    automated-recovery budget, so that a human is needed."""

    budget: float = Field(
        description=(
            "The automated-recovery budget in seconds: the scenario's rollback budget, else 180 (3 minutes)."
        )
    )
    needs_human: bool = Field(
        description=(
            "True if any fault was not recovered from, recovered later than the budget, or a rollback"
            " escalated."
        )
    )
    reasons: list[str] = Field(
        default_factory=list,
        description='One sentence per reason, e.g. "trial 1: down@api->db did not recover".',
    )
