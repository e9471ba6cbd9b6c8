"""Turn a run directory into results: journal + ledger + the scenario as run → figures and verdicts.

Everything here reads files the run wrote as it went, and nothing else. That is what lets
``aftershock report RUN_DIR`` regenerate the very same verdicts without re-running, and lets a
crashed or interrupted run still be analysed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from harness.fault_result import effect_on_the_work, fault_result
from harness.load.clock_sync import clock_uncertainty, read_clocks, widen_resolution
from harness.load.ledger import shard_paths
from harness.measure.audit import AuditSchemaError
from harness.measure.baseline import Baseline, measure_baseline
from harness.measure.bracket import Bracket
from harness.measure.fidelity import measure_fidelity
from harness.measure.health import HealthPolicy, HealthTimeline, evaluate_health
from harness.measure.operations import operations_of
from harness.measure.recovery import measure_fault
from harness.measure.rollback import DEFAULT_BUDGET, RollbackMeasurement, measure_rollback
from harness.measure.samples import RequestSamples, load_samples_counted
from harness.measure.trial_analysis import TrialAnalysis as TrialAnalysis
from harness.measure.trial_ledger import consistency_of, failures_of
from harness.measure.trials import mttr_over_trials
from harness.measure.verdicts import (
    judge_distribution,
    judge_fault,
    judge_rollback,
)
from harness.results import (
    AbortResult,
    AsRun,
    Escalation,
    Expect,
    FaultResult,
    FidelityResult,
    HarnessFailure,
    LoadResult,
    RemoteWorker,
    Results,
    Slo,
    TrialResult,
    Verdict,
)
from harness.results.abort import CUT_SHORT, UNCLEARED_NOTE
from harness.results.failures import FailureBreakdown
from harness.run_record import RunRecord, TrialEvents, read_run, scenario_as_run
from harness.scenario.models import Scenario
from harness.trial_result import Reconciliation, stopped_trial, trial_result


def policy_of(scenario: Scenario) -> HealthPolicy:
    return scenario.slo.policy()


def _load_result(
    start: float | None, stop: float | None, requests: int, counts: dict[str, int], trial_dir: Path
) -> LoadResult:
    return LoadResult(
        started_at=start,
        stopped_at=stop,
        requests=requests,
        ok=counts.get("ok", 0),
        fail=counts.get("fail", 0),
        indeterminate=counts.get("indeterminate", 0),
        remote_workers=[
            RemoteWorker(
                worker=c.worker,
                host=c.host,
                offset=c.offset_ns / 1e9,
                uncertainty=c.uncertainty_ns / 1e9,
                consistent=c.consistent,
            )
            for c in read_clocks(trial_dir)
        ],
    )


def _widen(b: Bracket | None, clock: float) -> Bracket | None:
    """A bracket whose request stamps are each known to within ``clock`` seconds."""
    return None if b is None else dataclasses.replace(b, lower=b.lower - clock, upper=b.upper + clock)


def _measure_faults(
    out: TrialAnalysis,
    scenario: Scenario,
    ev: TrialEvents,
    t0_ns: int,
    start: float,
    stop: float,
    clock: float = 0.0,
) -> None:
    """Every fault injected while load was observed, in injection order, with its verdicts.
    ``clock``: the remote load workers' clock uncertainty (s), added to every resolution."""
    assert out.timeline is not None
    injected = sorted(ev.injected.values(), key=lambda e: e.injected_ns)
    never_healthy = out.baseline is not None and out.baseline.healthy is False
    for n, inj_event in enumerate(injected):
        index = inj_event.fault
        fault = scenario.faults[index]
        inj = (inj_event.injected_ns - t0_ns) / 1e9
        cleared = ev.cleared.get(index)
        clr = None if cleared is None else (cleared.t_ns - t0_ns) / 1e9
        if inj > stop:
            continue  # injected after the observation ended (an interrupt): nothing to measure
        until = (injected[n + 1].injected_ns - t0_ns) / 1e9 if n + 1 < len(injected) else stop
        cut = clr is None or clr > stop  # the observation ended while the fault was still active
        clear_seen = stop if cut or clr is None else clr
        m = measure_fault(out.timeline, out.samples, inj, clear_seen, impact_until=min(until, stop))
        if clock:  # remote load workers: every request's stamps are known to within `clock`
            m = dataclasses.replace(
                m,
                resolution=widen_resolution(m.resolution, clock),
                impact_bracket=_widen(m.impact_bracket, clock),
                recovery_bracket=_widen(m.recovery_bracket, clock),
            )
        if cut:
            m = dataclasses.replace(
                m, recovered=False, recovered_at=None, recovery_time=None, recovery_bracket=None
            )
        result = fault_result(fault, index, m, inj_event, cleared, clr if cut else float(m.cleared_at), t0_ns)
        fidelity = measure_fidelity(
            out.samples, fault, injected_at=inj, cleared_at=clear_seen, load_started=start
        )
        update: dict[str, Any] = {"fidelity": FidelityResult(**fidelity.to_dict())}
        if cut:
            update["note"] = UNCLEARED_NOTE
        out.faults.append(result.model_copy(update=update))
        if not never_healthy:  # no recovery verdict against a system that was never healthy
            out.verdicts.extend(judge_fault(scenario.expect, ev.trial, fault.label, m))


def analyse_trial(run_dir: Path, scenario: Scenario, t0_ns: int, ev: TrialEvents) -> TrialAnalysis:
    trial_dir = run_dir / f"trial-{ev.trial}"
    shards = shard_paths(trial_dir)
    if shards:
        samples, counts = load_samples_counted(shards, t0_ns)
    else:
        samples, counts = RequestSamples.empty(), {"ok": 0, "fail": 0, "indeterminate": 0}

    def rel(ns: int | None) -> float | None:
        return None if ns is None else (ns - t0_ns) / 1e9

    start, stop = rel(ev.load_started_ns), rel(ev.load_stopped_ns)
    if start is not None and stop is None and len(samples):
        stop = float(samples.end.max())  # interrupted: observe what was recorded
    load = _load_result(start, stop, len(samples), counts, trial_dir)
    out = TrialAnalysis(ev.trial, samples, None, start, stop, [], [], load)
    if start is None or stop is None or stop - start < scenario.slo.window:
        return out
    out.timeline = evaluate_health(samples, policy_of(scenario), start, stop)
    first = min((e.injected_ns for e in ev.injected.values()), default=None)
    out.baseline = measure_baseline(
        out.timeline,
        samples,
        load_started=start,
        first_fault=rel(first),
        baseline=scenario.slo.baseline or scenario.slo.hold,
        rate_asked=scenario.load.users * scenario.load.rate_per_user,
    )
    never_healthy = out.baseline.healthy is False
    if never_healthy:
        out.verdicts.append(baseline_verdict(ev.trial, out.baseline))
    _measure_faults(out, scenario, ev, t0_ns, start, stop, clock_uncertainty(trial_dir))
    samples.forget_judged()  # measured: the audit's figures that follow need the memory more
    ops = operations_of(run_dir, scenario, t0_ns, ev.trial, out.faults, start, stop)  # business, detection
    out.faults, out.work = [effect_on_the_work(f) for f in ops.faults], ops.log
    out.verdicts.extend(ops.verdicts)
    if scenario.rollback is not None:
        out.rollback = _measure_rollback(scenario, ev, out.timeline, samples, t0_ns, out.faults, start)
        if not never_healthy:
            out.verdicts.extend(judge_rollback(scenario.expect, ev.trial, out.rollback))
    return out


def baseline_verdict(trial: int, baseline: Baseline) -> Verdict:
    """The failed baseline as a verdict of its own: it stands in for the trial's recovery verdicts."""
    return Verdict(
        expectation="baseline",
        trial=trial,
        fault="baseline",
        target=f"SLO held for {baseline.required:g}s before the first fault",
        measured=False,
        measured_text="unhealthy before any fault",
        passed=False,
        margin=None,
    )


def _measure_rollback(
    scenario: Scenario,
    ev: TrialEvents,
    timeline: HealthTimeline,
    samples: RequestSamples,
    t0_ns: int,
    faults: list[FaultResult],
    load_start: float,
) -> RollbackMeasurement | None:
    trig, done, confirmed = ev.rollback_triggered, ev.rollback_done, ev.rollback_confirmed
    if trig is None or scenario.rollback is None:
        return None
    deploys = [f for f in faults if f.kind == "deploy"]
    impact = deploys[0].impact_at if deploys else timeline.first_unhealthy(load_start, timeline.judged_to)
    return measure_rollback(
        timeline,
        samples,
        triggered_at=(trig.t_ns - t0_ns) / 1e9,
        reason=trig.reason,
        action=trig.action,
        action_ok=bool(done and done.ok),
        action_done_at=None if done is None else (done.t_ns - t0_ns) / 1e9,
        confirmed_at=None if confirmed is None else (confirmed.t_ns - t0_ns) / 1e9,
        impact_at=impact,
        budget=scenario.rollback.budget,
        action_error="" if done is None else done.error,
    )


def _trial_result(
    run_dir: Path, record: RunRecord, scenario: Scenario, a: TrialAnalysis, errors: list[str]
) -> TrialResult:
    """A trial's result (:func:`harness.trial_result.trial_result`), from its ledger and audit."""
    reconciled = _reconcile(run_dir, record, a.trial, errors) if record.started.consistency else None

    def breakdown(a: TrialAnalysis) -> FailureBreakdown:
        return failures_of(run_dir, record.t0_ns, a)

    return trial_result(record, scenario, a, reconciled, breakdown, errors)


def _reconcile(run_dir: Path, record: RunRecord, trial: int, errors: list[str]) -> Reconciliation:
    """:func:`consistency_of`, with what went wrong said: an audit that does not match its schema
    is a harness failure and gives no data verdict (never "everything lost")."""
    try:
        return Reconciliation(consistency_of(run_dir, record, trial))
    except AuditSchemaError as exc:
        errors.append(f"trial {trial}: {exc}")
        return Reconciliation(None, judged=False, failure=HarnessFailure(component="audit", detail=str(exc)))
    except (OSError, ValueError) as exc:
        errors.append(f"reconciling trial {trial} failed: {exc}")
        return Reconciliation(None)


def _abort_result(record: RunRecord) -> AbortResult | None:
    """The run's abort (at most one: no trial runs after it), in run-relative seconds."""
    e = next((t.aborted for _, t in sorted(record.trials.items()) if t.aborted is not None), None)
    if e is None:
        return None

    def rel(ns: int) -> float:
        return round((ns - record.t0_ns) / 1e9, 6)

    return AbortResult(
        trial=e.trial,
        at=rel(e.t_ns),
        bound=e.bound,
        reason=e.reason,
        measured=e.measured,
        above=e.above,
        crossed_at=rel(e.crossed_ns),
        since=None if e.since_ns is None else rel(e.since_ns),
        requests=e.requests,
        window=e.window,
        step=e.step,
    )


def escalation_of(
    scenario: Scenario,
    trials: list[TrialResult],
    aborted_trial: int | None = None,
    stopped_trial: int | None = None,
) -> Escalation:
    """DESIGN.md escalation: every recovery (or rollback) slower than its budget needs a human.

    Not from a trial the harness failed (no verdict), nor what an abort or a Ctrl-C cut short
    (not observed)."""
    budget = scenario.rollback.budget if scenario.rollback is not None else DEFAULT_BUDGET
    reasons: list[str] = []
    for t in trials:
        if t.unhealthy_before_fault:
            continue  # never healthy: nothing recovered or failed to recover, nothing to escalate
        if t.harness_failure is not None:
            continue
        aborted = t.trial in (aborted_trial, stopped_trial)
        for f in t.faults:
            if f.kind == "deploy" or f.note in CUT_SHORT or (t.trial == stopped_trial and not f.recovered):
                continue  # judged through its rollback / not observed, not missed
            if not f.recovered:
                reasons.append(f"trial {t.trial}: {f.label} did not recover")
            elif f.recovery_time is not None and f.recovery_time > budget:
                reasons.append(f"trial {t.trial}: {f.label} took {f.recovery_time:.0f}s to recover")
        rb = t.rollback
        if scenario.rollback is not None and rb is None and not aborted:
            reasons.append(f"trial {t.trial}: the rollback never happened")
        elif rb is not None and rb.escalated:
            what = f"took {rb.rollback_duration:.0f}s" if rb.rollback_duration is not None else rb.note
            reasons.append(f"trial {t.trial}: rollback {what}")
    return Escalation(budget=budget, needs_human=bool(reasons), reasons=reasons)


def as_run_of(record: RunRecord, scenario: Scenario) -> AsRun:
    s = record.started
    return AsRun(
        mode=scenario.target.mode,
        trials=scenario.trials,
        seed=scenario.seed,
        backend=scenario.backend,
        load_workers=scenario.load.workers,
        remote_workers=0 if scenario.load.master is None else scenario.load.master.remote_workers,
        overrides=s.overrides,
        env=s.env,
        rollback=None if scenario.rollback is None else scenario.rollback.trigger,
        owner=scenario.owner,
        runbook=scenario.runbook,
    )


def analyse_run(run_dir: Path) -> tuple[Results, list[TrialAnalysis]]:
    """Results (the ``results.json`` document) and the per-trial analyses behind them."""
    record = read_run(run_dir)
    scenario = scenario_as_run(run_dir, record)
    analyses: list[TrialAnalysis] = []
    trials: list[TrialResult] = []
    errors = list(record.errors)
    for n in sorted(record.trials):
        try:
            a = analyse_trial(run_dir, scenario, record.t0_ns, record.trials[n])
        except Exception as exc:  # never lose the run over a measurement failure
            errors.append(f"measuring trial {n} failed: {type(exc).__name__}: {exc}")
            trials.append(TrialResult(trial=n, measurement_error=f"{type(exc).__name__}: {exc}"))
            continue
        analyses.append(a)
        trials.append(_trial_result(run_dir, record, scenario, a, errors))
    mttr = mttr_over_trials(trials)
    abort = _abort_result(record)
    verdicts = [v for a in analyses for v in a.verdicts] + judge_distribution(scenario.expect, mttr)
    complete = (
        record.finished is not None
        and record.finished.complete
        and not record.interrupted
        and not errors
        and len(analyses) == scenario.trials
    )
    recovered_everywhere = all(f.recovered for t in trials if not t.unhealthy_before_fault for f in t.faults)
    passed = (
        complete
        and all(v.passed for v in verdicts)
        and (recovered_everywhere or scenario.expect.recovery_time is None)
    )
    results = Results(
        run_id=record.run_id,
        scenario=scenario.name,
        scenario_file=record.started.scenario_file,
        description=scenario.description,
        target=record.started.target,
        backend=scenario.backend,
        seed=scenario.seed,
        started_at=record.started.wallclock,
        clock=record.started.clock,
        t0_ns=record.t0_ns,
        complete=complete,
        interrupted=record.interrupted,
        error="; ".join(errors) or None,
        passed=passed,
        slo=Slo(**scenario.slo.model_dump()),
        expect=Expect.model_validate(scenario.expect.model_dump(mode="json", exclude_none=True)),
        trials=trials,
        mttr=mttr,
        verdicts=verdicts,
        escalation=escalation_of(
            scenario, trials, None if abort is None else abort.trial, stopped_trial(record)
        ),
        environment=record.started.environment,
        as_run=as_run_of(record, scenario),
        warnings=warnings_of(trials),
        aborted=abort,
    )
    return results, analyses


def warnings_of(trials: list[TrialResult]) -> list[str]:
    """What every report must say even when every expectation is met (DESIGN.md, Additions)."""
    out: list[str] = []
    for t in trials:
        b = t.baseline
        if b is not None:
            if b.outcome == "unhealthy_before_fault":
                out.append(
                    f"trial {t.trial}: target unhealthy before any fault ({b.note or 'the SLO never held'})"
                )
            elif b.note:
                out.append(f"trial {t.trial}: baseline {b.note}")
            if b.rate_warning:
                out.append(f"trial {t.trial}: {b.rate_warning}")
        for f in t.faults:
            if f.fidelity is not None and f.fidelity.no_effect:
                out.append(f"trial {t.trial}: {f.label}: {f.fidelity.note}")
    return out
