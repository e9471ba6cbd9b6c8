"""A trial's measurements assembled into the :class:`TrialResult` reported, in named steps.

The order is the point: the data is judged first (a consistency verdict, and the damage a rollback
left), then a trial the harness failed loses every verdict about the target, then what an abort
cut short says so. The analysis (:mod:`harness.analysis`) measures; this decides what of it stands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.events import HarnessFailed
from harness.measure.consistency import Consistency
from harness.measure.verdicts import judge_consistency, judge_data_restored
from harness.results import (
    BaselineResult,
    ConsistencyResult,
    DataAfterRollback,
    HarnessFailure,
    OomKill,
    RollbackResult,
    TrialResult,
)
from harness.results.abort import ABORTED_NOTE, STOPPED_MEASURED, STOPPED_NOTE, UNCLEARED_NOTE
from harness.results.failures import FailureBreakdown
from harness.run_record import RunRecord
from harness.scenario.models import Scenario

if TYPE_CHECKING:
    from harness.measure.trial_analysis import TrialAnalysis


@dataclass(frozen=True)
class Reconciliation:
    """The ledger reconciled with the audit, or why it could not be.

    ``judged`` is False when the audit did not match its schema: no data verdict then (never
    "everything lost"), and ``failure`` says so as a harness failure of the trial."""

    consistency: Consistency | None
    judged: bool = True
    failure: HarnessFailure | None = None


def trial_result(
    record: RunRecord,
    scenario: Scenario,
    a: TrialAnalysis,
    reconciled: Reconciliation | None,
    breakdown: Callable[[TrialAnalysis], FailureBreakdown],
    errors: list[str],
) -> TrialResult:
    """A trial's figures; its consistency (and the data left after a rollback) judged here.

    Harness failures are the run's error (exit 3, appended to ``errors``) and the trial's
    ``harness_failure``: unledgered effects mean the ledger missed requests; a HarnessFailed event
    (Toxiproxy, Locust or the harness died during the trial) voids every verdict of the trial about
    the target. ``reconciled`` is None when the target states no consistency contract;
    ``breakdown`` reads the failed requests once the faults that stand are known.
    """
    rollback = None if a.rollback is None else RollbackResult(**dataclasses.asdict(a.rollback))
    events = record.trials[a.trial].harness_failures
    failures = [harness_failure(e, record.t0_ns) for e in events]
    consistency = None
    if reconciled is not None:
        consistency, rollback = _judge_data(scenario, a, reconciled, rollback, failures, errors)
    if events:  # a part died mid-play: the figures are the harness's, no verdict about the target
        a.verdicts.clear()
        errors.extend(f"trial {a.trial}: the harness failed ({e.component}): {e.detail}" for e in events)
        a.faults, a.rollback, rollback = [], None, None
    if record.trials[a.trial].aborted is not None:
        _mark_aborted(a)
    elif stopped_trial(record) == a.trial:
        _mark_stopped(a)
    return TrialResult(
        trial=a.trial,
        load=a.load,
        faults=a.faults,
        rollback=rollback,
        consistency=consistency,
        harness_failure=failures[0] if failures else None,
        failures=breakdown(a),
        baseline=None if a.baseline is None else BaselineResult(**a.baseline.to_dict()),
        oom_kills=[
            OomKill(
                service=e.service,
                at=(e.t_ns - record.t0_ns) / 1e9,
                seen_by=e.seen_by,
                oom_killed=e.oom_killed,
                exit_code=e.exit_code,
                status=e.status,
                memory_limit=e.memory_limit,
            )
            for e in record.trials[a.trial].oom_kills
        ],
    )


def _judge_data(
    scenario: Scenario,
    a: TrialAnalysis,
    reconciled: Reconciliation,
    rollback: RollbackResult | None,
    failures: list[HarnessFailure],
    errors: list[str],
) -> tuple[ConsistencyResult | None, RollbackResult | None]:
    """The consistency verdicts, and what a rollback left of the damage (it restores the service,
    not the data: judged by default)."""
    c, consistency = reconciled.consistency, None
    if reconciled.failure is not None:
        failures.append(reconciled.failure)
    if c is not None:
        consistency = ConsistencyResult(**dataclasses.asdict(c))
        rollback = _data_after(rollback, c)
        if c.unledgered:  # the ledger missed requests: a harness error (exit 3)
            detail = f"{c.unledgered} unledgered effects, keys {c.unledgered_keys}"
            errors.append(f"trial {a.trial}: {detail}")
            failures.append(HarnessFailure(component="ledger", detail=detail))
    if reconciled.judged:
        a.verdicts.extend(judge_consistency(scenario.expect, a.trial, c))
        if c is not None:
            damage = {"lost": c.lost, "duplicated": c.duplicated, "corrupted": c.corrupted}
            a.verdicts.extend(
                judge_data_restored(scenario.expect, a.trial, scenario.rollback is not None, damage)
            )
    return consistency, rollback


def _mark_aborted(a: TrialAnalysis) -> None:
    """The abort, not the target, ended the observation: a fault it cut short is still missed,
    but says why (the figure was never observed)."""
    a.faults = [f if f.recovered else f.model_copy(update={"note": ABORTED_NOTE}) for f in a.faults]
    cut = {f.label for f in a.faults if f.note == ABORTED_NOTE}
    a.verdicts[:] = [
        v.model_copy(update={"measured_text": "not observed (aborted)"})
        if v.fault in cut and v.measured is None
        else v
        for v in a.verdicts
    ]


def stopped_trial(record: RunRecord) -> int | None:
    """The trial a Ctrl-C / SIGTERM cut short (the last one that started), or None."""
    return max(record.trials) if record.interrupted and record.trials else None


def _mark_stopped(a: TrialAnalysis) -> None:
    """The user, not the target, ended the observation: what it cut short (a recovery, the audit
    read after the drain) was not observed. Said as such, never as a miss of the target."""
    a.faults = [
        f
        if f.recovered or f.note not in (None, UNCLEARED_NOTE)
        else f.model_copy(update={"note": STOPPED_NOTE})
        for f in a.faults
    ]
    cut = {f.label for f in a.faults if not f.recovered}
    a.verdicts[:] = [
        v.model_copy(update={"measured_text": STOPPED_MEASURED, "observed": False})
        if not v.passed and (v.measured is None or v.fault in cut)
        else v
        for v in a.verdicts
    ]


def _data_after(rollback: RollbackResult | None, c: Consistency) -> RollbackResult | None:
    """What the rollback did not undo: the data damage still there once service is restored."""
    if rollback is None:
        return None
    damage = {"lost": c.lost, "duplicated": c.duplicated, "corrupted": c.corrupted}
    data = DataAfterRollback(**damage, clean=not any(damage.values()))
    return rollback.model_copy(update={"data_after_rollback": data})


def harness_failure(e: HarnessFailed, t0_ns: int) -> HarnessFailure:
    """A HarnessFailed event in run-relative seconds (when it died, when it was last seen alive)."""
    at = e.t_ns if e.at_ns is None else e.at_ns
    alive = None if e.last_alive_ns is None else (e.last_alive_ns - t0_ns) / 1e9
    return HarnessFailure(component=e.component, detail=e.detail, at=(at - t0_ns) / 1e9, last_alive=alive)
