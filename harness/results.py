"""The results of a run (``results.json``): typed, frozen models built by the analysis.

Every reporter (console, summary.md, junit.xml, report.html, the index) reads these models, never
a free dict, and ``docs/results-schema.json`` is generated from them (``aftershock schema
--results``), so the document, its schema and its readers cannot drift apart. Times are seconds
relative to the run's start on the run clock unless a field says otherwise; durations are numbers.
Metric definitions are DESIGN.md's (binding). Fields are only ever added within v1, each with a
default, so an older results.json still reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_serializer

from harness.errors import ExitCode
from harness.files import atomic_write_text

SCHEMA: Literal["aftershock/results/v1"] = "aftershock/results/v1"


def _seconds(value: object) -> object:
    """Seconds; an older results.json wrote SLO durations as text ("1s"), read as seconds."""
    if isinstance(value, str):
        from harness.scenario.durations import parse_duration

        return parse_duration(value)
    return value


Seconds = Annotated[float, BeforeValidator(_seconds)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Slo(Frozen):
    """What healthy meant in this run (DESIGN.md, Health). Durations in seconds."""

    window: Seconds = Field(
        description="Length of a health window: a window holds the requests that completed in it."
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

    def stated(self) -> bool:
        return any(v is not None for v in self.model_dump().values())


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


class AsRun(Frozen):
    """The scenario as actually run: the scenario file plus the command line's overrides."""

    mode: str | None = Field(
        None, description="The target mode the run used (e.g. fragile); null for the target's default."
    )
    trials: int = Field(description="Trials planned.")
    seed: int = Field(description="Seed of every random choice.")
    backend: str = Field(description="process or docker.")
    load_workers: int = Field(1, description="Locust worker processes (1: no distributed mode).")
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


class Results(Frozen):
    """The machine-readable outcome of one run, written by the orchestrator (and rewritten by
    `aftershock report RUN_DIR`) from the run directory alone."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        title=f"aftershock results.json ({SCHEMA})",
        json_schema_extra={"$id": "urn:aftershock:results:v1"},
    )

    schema_: Literal["aftershock/results/v1"] = Field(
        SCHEMA, alias="schema", description="Schema identifier and version of this document."
    )
    run_id: str = Field(
        min_length=1,
        description=(
            "The run's id (local start time plus a random suffix, e.g. 20261121-054128-d8a9); also "
            "the name of its run directory and the label on every process the run started."
        ),
    )
    scenario: str = Field(min_length=1, description="The scenario's name (its `name:` field).")
    scenario_file: str | None = Field(
        description=(
            "Absolute path of the scenario file the run was started from; null if the journal does "
            "not record it. The copy actually run is scenario.yaml in the run directory."
        )
    )
    description: str = Field(description="The scenario's description (may be empty).")
    target: str | None = Field(
        description=(
            "Name of the target system rehearsed (targets/<name>/target.yaml); null if the journal "
            "does not record it."
        )
    )
    backend: str = Field(description="How the target's services ran, after command-line overrides.")
    seed: int = Field(
        description=(
            "Seed of every random choice (load, Toxiproxy jitter), after command-line overrides: "
            "rerun with `aftershock run SCENARIO --seed N`."
        )
    )
    started_at: str | None = Field(
        description=(
            "Wall-clock start of the run, ISO 8601 with UTC offset, to the second; null if not "
            "recorded. For humans only: every measured time uses the run clock."
        )
    )
    clock: str | None = Field(
        description=(
            "The one clock every process of the run stamped events with (CLOCK_MONOTONIC on Linux); "
            "null if not recorded."
        )
    )
    t0_ns: int = Field(
        description=(
            "The run's start on the run clock, in nanoseconds. Every time in this document is (stamp "
            "- t0_ns) / 1e9."
        )
    )
    complete: bool = Field(
        description=(
            "True only if the run finished normally: the journal records its end, it was not "
            "interrupted, nothing errored and every planned trial was measured."
        )
    )
    interrupted: bool = Field(
        description=(
            "True if SIGINT/SIGTERM stopped the run; faults were cleared and what was measured is "
            "reported (exit code 130)."
        )
    )
    error: str | None = Field(
        description=(
            "Every error of the run (harness, infrastructure, measurement), joined with '; '; null if none."
        )
    )
    passed: bool = Field(
        description=(
            "The run's verdict: complete, every verdict passed, and every fault recovered from when a"
            " recovery_time expectation is stated. Exit code 0 iff true."
        )
    )
    slo: Slo = Field(description="What healthy meant in this run.")
    expect: Expect = Field(description="The expectations the scenario stated.")
    trials: list[TrialResult] = Field(description="One entry per trial that started, in trial order.")
    mttr: list[MttrResult] = Field(
        default_factory=list, description="MTTR over trials, per fault of the scenario."
    )
    verdicts: list[Verdict] = Field(
        description=(
            "Every stated expectation judged against every fault of every trial (and, for data "
            "expectations, every trial), in trial order."
        )
    )
    escalation: Escalation | None = Field(
        None,
        description="Whether a human is needed (absent from results written before escalation was measured).",
    )
    environment: dict[str, str | int | float | None] = Field(
        description=(
            "Versions and host of the run, as the orchestrator recorded them (empty if not recorded):"
            " aftershock, python, toxiproxy, platform, pid; more may be added."
        )
    )
    as_run: AsRun | None = Field(
        None,
        description=(
            "The scenario as actually run (mode, trials, seed, backend, load workers, overrides, "
            "env); null in results written before it was recorded."
        ),
    )

    @field_serializer("expect")
    def _stated_only(self, expect: Expect) -> dict[str, Any]:
        return expect.model_dump(exclude_none=True)

    def faults(self) -> list[tuple[int, FaultResult]]:
        """Every measured fault as ``(trial, fault)``, in trial order."""
        return [(t.trial, f) for t in self.trials for f in t.faults]

    def exit_code(self) -> ExitCode:
        """From the results alone: 130 interrupted, 3 a harness or infrastructure error (or a
        trial voided by a harness failure), else 0 met / 1 missed."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.error or any(t.harness_failure is not None for t in self.trials):
            return ExitCode.INFRASTRUCTURE
        return ExitCode.OK if self.passed else ExitCode.EXPECTATION_MISSED

    def to_json(self) -> str:
        """The results.json text (2-space indent, a final newline)."""
        return json.dumps(self.model_dump(mode="json", by_alias=True), indent=2) + "\n"


def write_results(path: Path, results: Results) -> None:
    atomic_write_text(path, results.to_json())


def read_results(path: Path) -> Results:
    """A results.json as the model (raises ``OSError`` / ``ValueError`` if unreadable)."""
    return Results.model_validate_json(path.read_text(encoding="utf-8"))


def schema_text() -> str:
    """The JSON Schema of results.json, generated from :class:`Results` (what docs/ ships)."""
    schema = Results.model_json_schema(by_alias=True, mode="validation")
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(doc, indent=2) + "\n"
