"""A run's journal, digested: what happened in each trial, as typed events, and the scenario as run.

The analysis reads a run directory through this and nothing else of the orchestrator's, which is
what lets ``aftershock report RUN_DIR`` re-judge a run without re-running it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.as_run import apply_overrides
from harness.errors import Problem, ScenarioError
from harness.events import (
    FaultCleared,
    FaultInjected,
    HarnessFailed,
    LoadStarted,
    LoadStopped,
    RollbackActionDone,
    RollbackConfirmed,
    RollbackTriggered,
    RunAborted,
    RunError,
    RunEvent,
    RunFinished,
    RunInterrupted,
    RunStarted,
    ServiceOomKilled,
    TrialStarted,
)
from harness.journal import JOURNAL_NAME, read_events
from harness.scenario.loader import parse_scenario
from harness.scenario.models import Scenario

SCENARIO_COPY = "scenario.yaml"


@dataclass
class TrialEvents:
    """What the journal says happened in one trial."""

    trial: int
    load_started_ns: int | None = None
    load_stopped_ns: int | None = None
    injected: dict[int, FaultInjected] = field(default_factory=dict)
    cleared: dict[int, FaultCleared] = field(default_factory=dict)
    rollback_triggered: RollbackTriggered | None = None
    rollback_done: RollbackActionDone | None = None
    rollback_confirmed: RollbackConfirmed | None = None
    harness_failures: list[HarnessFailed] = field(default_factory=list)
    aborted: RunAborted | None = None  # a scenario's abort bound was crossed in this trial
    oom_kills: list[ServiceOomKilled] = field(default_factory=list)  # journaled while it ran


@dataclass
class RunRecord:
    """The journal of a run, digested."""

    run_id: str
    t0_ns: int
    started: RunStarted
    finished: RunFinished | None
    trials: dict[int, TrialEvents]
    errors: list[str]
    interrupted: bool


def _digest(rec: TrialEvents, e: RunEvent) -> None:
    """File one event of a trial where the analysis looks for it (the first rollback step wins)."""
    match e:
        case LoadStarted():
            rec.load_started_ns = e.t_ns
        case LoadStopped():
            rec.load_stopped_ns = e.t_ns
        case FaultInjected():
            rec.injected[e.fault] = e
        case FaultCleared():
            rec.cleared[e.fault] = e
        case RollbackTriggered() if rec.rollback_triggered is None:
            rec.rollback_triggered = e
        case RollbackActionDone() if rec.rollback_done is None:
            rec.rollback_done = e
        case RollbackConfirmed() if rec.rollback_confirmed is None:
            rec.rollback_confirmed = e
        case HarnessFailed():
            rec.harness_failures.append(e)
        case RunAborted() if rec.aborted is None:
            rec.aborted = e


def read_run(run_dir: Path) -> RunRecord:
    events = read_events(run_dir / JOURNAL_NAME)
    started = next((e for e in events if isinstance(e, RunStarted)), None)
    if started is None:
        raise ScenarioError(
            [Problem(str(run_dir / JOURNAL_NAME), "(journal)", "no run_started event: not a run dir")]
        )
    trials: dict[int, TrialEvents] = {}
    errors: list[str] = []
    interrupted = False
    finished = None
    current: int | None = None  # the trial under way: a backend's events carry no trial number
    for e in events:
        trial = getattr(e, "trial", None)
        if isinstance(e, TrialStarted):
            current = e.trial
        if isinstance(trial, int):
            _digest(trials.setdefault(trial, TrialEvents(trial)), e)
        elif isinstance(e, ServiceOomKilled) and current is not None:
            trials.setdefault(current, TrialEvents(current)).oom_kills.append(e)
        if isinstance(e, RunError):
            errors.append(e.message)
        elif isinstance(e, RunInterrupted):
            interrupted = True
        elif isinstance(e, RunFinished):
            finished = e
    return RunRecord(started.run_id, started.t0_ns, started, finished, trials, errors, interrupted)


def scenario_as_run(run_dir: Path, record: RunRecord) -> Scenario:
    """The scenario copy in the run dir, with the command-line overrides the run used.

    Backend, trials and seed are journaled as run (also by harnesses that did not journal their
    overrides); mode and load workers come from the journaled overrides.
    """
    scenario = parse_scenario(run_dir / SCENARIO_COPY)
    s = record.started
    overrides: dict[str, Any] = {"backend": s.backend, "trials": s.trials, "seed": s.seed}
    overrides.update({k: v for k, v in s.overrides.items() if k in ("mode", "load_workers")})
    if s.mode is not None:
        overrides["mode"] = s.mode
    return apply_overrides(scenario, overrides)
