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
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_serializer

from harness.errors import ExitCode
from harness.files import atomic_write_text
from harness.results.abort import AbortResult
from harness.results.base import Frozen, Seconds
from harness.results.fault import (
    BracketResult,
    FaultResult,
    FidelityResult,
    LoadResult,
    RemoteWorker,
    Resolution,
)
from harness.results.scenario import AsRun, Expect, Slo
from harness.results.trial import (
    BaselineResult,
    ConsistencyResult,
    DataAfterRollback,
    HarnessFailure,
    OomKill,
    RollbackResult,
    TrialResult,
)
from harness.results.verdict import Escalation, MttrResult, TrialValue, Verdict

__all__ = [
    "SCHEMA",
    "AbortResult",
    "AsRun",
    "BaselineResult",
    "BracketResult",
    "ConsistencyResult",
    "DataAfterRollback",
    "Escalation",
    "Expect",
    "FaultResult",
    "FidelityResult",
    "Frozen",
    "HarnessFailure",
    "LoadResult",
    "MttrResult",
    "OomKill",
    "RemoteWorker",
    "Resolution",
    "Results",
    "RollbackResult",
    "Seconds",
    "Slo",
    "TrialResult",
    "TrialValue",
    "Verdict",
    "read_results",
    "schema_text",
    "write_results",
]

SCHEMA: Literal["aftershock/results/v1"] = "aftershock/results/v1"


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
    warnings: list[str] = Field(
        default_factory=list,
        description=(
            "What every report states even when every expectation is met: a trial unhealthy before "
            "any fault, a shortened baseline, a request rate short of the asked one, a fault with no "
            "effect observed."
        ),
    )
    aborted: AbortResult | None = Field(
        None,
        description=(
            "The abort that ended the run early (exit code 4): every fault was cleared at once, the "
            "load stopped, what was measured is reported; null if none."
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
        trial voided by a harness failure), 4 aborted, 5 a trial whose target was unhealthy before
        any fault, else 0 met / 1 missed."""
        if self.interrupted:
            return ExitCode.INTERRUPTED
        if self.error or any(t.harness_failure is not None for t in self.trials):
            return ExitCode.INFRASTRUCTURE
        if self.aborted is not None:
            return ExitCode.ABORTED
        if any(t.unhealthy_before_fault for t in self.trials):
            return ExitCode.UNHEALTHY_BEFORE_FAULT
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
