"""One trial's load and what each fault did to the target (DESIGN.md, Exact metric definitions)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness.results.base import Frozen
from harness.results.operations import BusinessResult, DetectionResult


class RemoteWorker(Frozen):
    """A load worker on another machine, and how well its clock was put on the run's."""

    worker: str = Field(description="Locust's id of the worker.")
    host: str = Field(description="The machine it ran on, as it reported it.")
    offset: float = Field(
        description="Its clock minus the harness's, in seconds; its stamps were shifted by it."
    )
    uncertainty: float = Field(
        description="The truth is within this many seconds of the offset; added to every resolution."
    )
    consistent: bool = Field(description="False: the offset moved during the run (drift, a clock step).")


class LoadResult(Frozen):
    """The load of one trial and the outcome of its requests, counted over the ledger."""

    started_at: float | None = Field(
        description="When all users were running (observation starts); null if load never started."
    )
    stopped_at: float | None = Field(
        description=(
            "When load was stopped (observation ends); for an interrupted trial, the last completion "
            "recorded; null if none."
        )
    )
    requests: int = Field(description="Requests in the ledger (completed requests only).")
    ok: int = Field(0, description="Requests acknowledged (a success answer).")
    fail: int = Field(
        0,
        description=(
            "Definite failures: the server said it did not apply, or the request was refused before "
            "it was sent."
        ),
    )
    indeterminate: int = Field(
        0, description="No clear answer (timeout, reset after sending, 5xx): may or may not have applied."
    )
    remote_workers: list[RemoteWorker] = Field(
        default_factory=list,
        description="Load workers on other machines (none: all load ran beside the harness).",
    )


class Resolution(Frozen):
    """Uncertainty, in seconds, of each figure of a fault: the evaluation step plus the SLO edge
    slack plus the largest gap between completed requests around the boundary. Never print a
    figure more precisely."""

    time_to_impact: float | None = Field(None, description="Resolution of time_to_impact (and impact_at).")
    recovered_at: float | None = Field(None, description="Resolution of recovered_at.")
    recovery_time: float | None = Field(
        None, description="Resolution of recovery_time (that of recovered_at: cleared_at is exact)."
    )
    outage: float | None = Field(None, description="Resolution of outage (both edges').")


class BracketResult(Frozen):
    """A healthy<->unhealthy transition bracketed by the requests either side of it (DESIGN.md,
    Transition bracket): it lies in (lower, upper]."""

    kind: Literal["impact", "recovery"] = Field(
        description="impact (healthy -> unhealthy) or recovery (unhealthy -> healthy)."
    )
    at: float = Field(description="The bracketed instant: (lower + upper) / 2, run-relative seconds.")
    half_width: float = Field(ge=0, description="The bracket's resolution: (upper - lower) / 2, seconds.")
    lower: float = Field(description="Start of the last request that saw the old state.")
    upper: float = Field(description="End of the first request that saw the new state.")
    contradicting: int = Field(
        ge=0, description="Nearby requests that disagree with the bracket (0 for a clean transition)."
    )


class FidelityResult(Frozen):
    """DESIGN.md Fault fidelity, observed part: the requests sent while the fault was active against
    those sent in an equally long stretch just before it, and what the fault asked for."""

    asked: str = Field(description="What the fault asked for, in words.")
    asked_latency: float | None = Field(
        description=(
            "Latency the fault adds to a request crossing the link once (twice for direction both), "
            "seconds; null for other kinds."
        )
    )
    asked_error_share: float | None = Field(
        description=(
            "Share of the link's connections the fault breaks (its toxicity) for down, timeout, "
            "reset and response_loss; null otherwise."
        )
    )
    requests_before: int = Field(ge=0, description="Requests sent in the reference stretch.")
    requests_during: int = Field(ge=0, description="Requests sent while the fault was active.")
    latency_before: float | None = Field(description="Median latency of the reference requests, seconds.")
    latency_during: float | None = Field(
        description="Median latency of the requests sent during the fault, seconds."
    )
    latency_shift: float | None = Field(description="latency_during - latency_before, seconds.")
    error_share_before: float | None = Field(description="Share of the reference requests not ok.")
    error_share_during: float | None = Field(
        description="Share of the requests sent during the fault not ok."
    )
    effect_observed: bool | None = Field(
        description=(
            "Whether the error share or the latency rose beyond the reference's noise; null when not "
            "judged (no request to compare, or a duplicate fault: see consistency)."
        )
    )
    note: str = Field(
        description="The observation in words; starts with 'no effect observed' when nothing moved."
    )
    no_effect: bool = Field(
        description="effect_observed is false: the fault did nothing visible, flagged in every report."
    )


class FaultResult(Frozen):
    """One injected fault and what it did to the target (DESIGN.md, Exact metric definitions)."""

    index: int = Field(description="Position of the fault in the scenario's faults list.")
    kind: str = Field(
        description=(
            "Fault kind: latency, down, timeout, reset, response_loss, crash, pause, partition, "
            "duplicate, deploy (more may be added)."
        )
    )
    target: str = Field(
        description=(
            "Where the fault acts: a link (client->server), a service, partition groups (a,b|c), "
            "load, or service=version for a deploy."
        )
    )
    label: str = Field(description="The fault's name in reports: its `name`, or kind@target.")
    injected_at: float = Field(
        description=(
            "When the harness's inject call returned (journal); for a deploy, when the deploy started"
            " (DESIGN.md, Deploy window)."
        )
    )
    cleared_at: float | None = Field(
        description=(
            "When the clear call returned (for a crash: when the service was restarted, or "
            "injected_at if the target restarts it itself; for a deploy: when the rollback action "
            "finished); null if the journal has no clear because the observation ended first."
        )
    )
    time_to_impact: float | None = Field(
        description=(
            "First unhealthy instant at or after injected_at, minus injected_at; null if never impacted."
        )
    )
    impact_at: float | None = Field(description="The first unhealthy instant itself; null if never impacted.")
    recovered_at: float | None = Field(
        description=(
            "Earliest t >= cleared_at from which every window in [t, t + hold] is healthy; null if "
            "not recovered before the observation ended."
        )
    )
    recovery_time: float | None = Field(
        description=(
            "The rehearsal's MTTR: recovered_at - cleared_at; 0 if never impacted; null = not "
            "recovered (fails any recovery_time expectation)."
        )
    )
    recovered: bool = Field(description="Whether recovered_at was found.")
    outage: float = Field(
        description=(
            "Total unhealthy time in [injected_at, recovered_at] (to the end of the judged span if "
            "not recovered)."
        )
    )
    resolution: Resolution = Field(description="Uncertainty in seconds of each figure.")
    error_rate_during_fault: float | None = Field(
        description=(
            "Share of requests completed in [injected_at, cleared_at] that were not ok; null if none "
            "completed."
        )
    )
    requests_during_fault: int = Field(description="Requests completed in [injected_at, cleared_at].")
    note: str | None = Field(
        None, description="Why a figure is missing, e.g. the observation ended before the fault was cleared."
    )
    scheduled_at: float | None = Field(
        None,
        description=(
            "When the timeline was to inject the fault (run-relative seconds); null in results "
            "written before it was journaled."
        ),
    )
    injection_lag: float | None = Field(
        None,
        description=(
            "DESIGN.md Fault fidelity: injected_at minus scheduled_at, seconds; null if not journaled."
        ),
    )
    clear_lag: float | None = Field(
        None,
        description=(
            "cleared_at minus the instant the clear was scheduled (for a clear forced at teardown or "
            "by a rollback: the instant it was asked), seconds; null if not journaled or not cleared."
        ),
    )
    impact_bracket: BracketResult | None = Field(
        None, description="The impact bracketed by requests; null if never impacted or not bracketable."
    )
    recovery_bracket: BracketResult | None = Field(
        None, description="The recovery bracketed by requests; null if not recovered or not bracketable."
    )
    recovery_time_bracketed: float | None = Field(
        None,
        description=(
            "MTTR from the recovery bracket: recovery_bracket.at - cleared_at, within "
            "recovery_bracket.half_width; null without a recovery bracket."
        ),
    )
    fidelity: FidelityResult | None = Field(
        None, description="What the fault did to the requests against what it asked; null if not measured."
    )
    business: BusinessResult | None = Field(
        None,
        description="Business recovery (backlog, cycle time) from the audit's work items; null without them.",
    )
    detection: DetectionResult | None = Field(
        None,
        description="Detection by the target's own Prometheus and Alertmanager; null without `monitoring:`.",
    )
