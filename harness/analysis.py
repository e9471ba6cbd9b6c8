"""Turn a run directory into results: journal + ledger + the scenario as run → figures and verdicts.

Everything here reads files the run wrote as it went, and nothing else. That is what lets
``aftershock report RUN_DIR`` regenerate the very same verdicts without re-running, and lets a
crashed or interrupted run still be analysed.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import Problem, ScenarioError
from harness.journal import JOURNAL_NAME, read_journal
from harness.load.ledger import read_records, shard_paths
from harness.measure.audit import AuditSchemaError, validate_audit
from harness.measure.consistency import Consistency, effects_of, reconcile
from harness.measure.health import HealthPolicy, HealthTimeline, evaluate_health
from harness.measure.recovery import FaultMeasurement, measure_fault
from harness.measure.rollback import DEFAULT_BUDGET, RollbackMeasurement, measure_rollback
from harness.measure.samples import RequestSamples, load_samples_counted
from harness.measure.trials import mttr_over_trials
from harness.measure.verdicts import (
    Verdict,
    judge_consistency,
    judge_distribution,
    judge_fault,
    judge_rollback,
)
from harness.report.results import SCHEMA
from harness.scenario.loader import parse_scenario
from harness.scenario.models import Scenario

SCENARIO_COPY = "scenario.yaml"
AUDIT_FILE = "audit.json"


@dataclass
class TrialEvents:
    """What the journal says happened in one trial (instants on the run clock, ns)."""

    trial: int
    load_started_ns: int | None = None
    load_stopped_ns: int | None = None
    injected: dict[int, int] = field(default_factory=dict)
    cleared: dict[int, int] = field(default_factory=dict)
    rollback: dict[str, dict[str, Any]] = field(default_factory=dict)  # event kind -> the journal entry


@dataclass
class RunRecord:
    """The journal of a run, digested."""

    run_id: str
    t0_ns: int
    started: dict[str, Any]
    finished: dict[str, Any] | None
    trials: dict[int, TrialEvents]
    errors: list[str]
    interrupted: bool


def read_run(run_dir: Path) -> RunRecord:
    entries = read_journal(run_dir / JOURNAL_NAME)
    started = next((e for e in entries if e["event"] == "run_started"), None)
    if started is None:
        raise ScenarioError(
            [Problem(str(run_dir / JOURNAL_NAME), "(journal)", "no run_started event: not a run dir")]
        )
    trials: dict[int, TrialEvents] = {}
    errors: list[str] = []
    interrupted = False
    finished = None
    for e in entries:
        kind = e["event"]
        if "trial" in e and isinstance(e["trial"], int):
            rec = trials.setdefault(e["trial"], TrialEvents(e["trial"]))
            if kind == "load_started":
                rec.load_started_ns = e["t_ns"]
            elif kind == "load_stopped":
                rec.load_stopped_ns = e["t_ns"]
            elif kind == "fault_injected":
                rec.injected[e["fault"]] = e["t_ns"]
            elif kind == "fault_cleared":
                rec.cleared[e["fault"]] = e["t_ns"]
            elif kind.startswith("rollback_"):
                rec.rollback.setdefault(kind, e)
        if kind == "error":
            errors.append(e.get("message", ""))
        elif kind == "interrupted":
            interrupted = True
        elif kind == "run_finished":
            finished = e
    return RunRecord(started["run_id"], started["t0_ns"], started, finished, trials, errors, interrupted)


def scenario_as_run(run_dir: Path, record: RunRecord) -> Scenario:
    """The scenario copy in the run dir, with the command-line overrides the run used."""
    scenario = parse_scenario(run_dir / SCENARIO_COPY)
    overrides: dict[str, Any] = {
        k: record.started[k] for k in ("backend", "trials", "seed") if k in record.started
    }
    return scenario.model_copy(update=overrides)


def policy_of(scenario: Scenario) -> HealthPolicy:
    return scenario.slo.policy()


@dataclass
class TrialAnalysis:
    """Everything measured for one trial; reporters draw their plots from this."""

    trial: int
    samples: RequestSamples
    timeline: HealthTimeline | None
    observe_from: float | None
    observe_to: float | None
    faults: list[dict[str, Any]]
    verdicts: list[Verdict]
    load: dict[str, Any]
    rollback: RollbackMeasurement | None = None


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
    load = {"started_at": start, "stopped_at": stop, "requests": len(samples), **counts}
    out = TrialAnalysis(ev.trial, samples, None, start, stop, [], [], load)
    if start is None or stop is None or stop - start < scenario.slo.window:
        return out
    policy = policy_of(scenario)
    timeline = evaluate_health(samples, policy, start, stop)
    out.timeline = timeline
    injected = sorted(ev.injected.items(), key=lambda kv: kv[1])
    for n, (index, inj_ns) in enumerate(injected):
        fault = scenario.faults[index]
        inj = (inj_ns - t0_ns) / 1e9
        clr = rel(ev.cleared.get(index))
        if inj > stop:
            continue  # injected after the observation ended (an interrupt): nothing to measure
        until = (injected[n + 1][1] - t0_ns) / 1e9 if n + 1 < len(injected) else stop
        cut = clr is None or clr > stop  # the observation ended while the fault was still active
        clear_seen = stop if cut or clr is None else clr
        m: FaultMeasurement = measure_fault(timeline, samples, inj, clear_seen, impact_until=min(until, stop))
        entry: dict[str, Any] = {
            "index": index,
            "kind": fault.kind,
            "target": fault.where,
            "label": fault.label,
            **m.to_dict(),
        }
        if cut:
            entry.update(
                cleared_at=clr,
                recovered=False,
                recovered_at=None,
                recovery_time=None,
                note="the observation ended before the fault was cleared",
            )
            m = dataclasses.replace(m, recovered=False, recovered_at=None, recovery_time=None)
        out.faults.append(entry)
        out.verdicts.extend(judge_fault(scenario.expect, ev.trial, fault.label, m))
    if scenario.rollback is not None:
        out.rollback = _measure_rollback(scenario, ev, timeline, samples, t0_ns, out.faults, start)
        out.verdicts.extend(judge_rollback(scenario.expect, ev.trial, out.rollback))
    return out


def _measure_rollback(
    scenario: Scenario,
    ev: TrialEvents,
    timeline: HealthTimeline,
    samples: RequestSamples,
    t0_ns: int,
    faults: list[dict[str, Any]],
    load_start: float,
) -> RollbackMeasurement | None:
    trig = ev.rollback.get("rollback_triggered")
    if trig is None or scenario.rollback is None:
        return None
    done = ev.rollback.get("rollback_action_done")
    confirmed = ev.rollback.get("rollback_confirmed")
    deploys = [f for f in faults if f["kind"] == "deploy"]
    impact = (
        deploys[0].get("impact_at") if deploys else timeline.first_unhealthy(load_start, timeline.judged_to)
    )
    return measure_rollback(
        timeline,
        samples,
        triggered_at=(trig["t_ns"] - t0_ns) / 1e9,
        reason=trig.get("reason", ""),
        action=trig.get("action", ""),
        action_ok=bool(done and done.get("ok")),
        action_done_at=None if done is None else (done["t_ns"] - t0_ns) / 1e9,
        confirmed_at=None if confirmed is None else (confirmed["t_ns"] - t0_ns) / 1e9,
        impact_at=impact,
        budget=scenario.rollback.budget,
        action_error="" if done is None else done.get("error", ""),
    )


def consistency_of(run_dir: Path, record: RunRecord, trial: int) -> Consistency | None:
    """Reconcile a trial's ledger with its audit, if the target has a consistency contract."""
    contract = record.started.get("consistency")
    audit_path = run_dir / f"trial-{trial}" / AUDIT_FILE
    if not contract or not audit_path.exists():
        return None
    docs = json.loads(audit_path.read_text(encoding="utf-8"))
    audits = {svc: validate_audit(doc, f"service {svc!r} ({audit_path})") for svc, doc in docs.items()}
    return reconcile(
        read_records(shard_paths(run_dir / f"trial-{trial}")),
        effects_of(audits),
        write_ops=contract["write_ops"],
        primary=contract["primary"],
        final_status=contract.get("final_status"),
        pending=sum(a.pending for a in audits.values()),
    )


def analyse_run(run_dir: Path) -> tuple[dict[str, Any], list[TrialAnalysis]]:
    """Results (the ``results.json`` document) and the per-trial analyses behind them."""
    record = read_run(run_dir)
    scenario = scenario_as_run(run_dir, record)
    analyses: list[TrialAnalysis] = []
    trials_out: list[dict[str, Any]] = []
    errors = list(record.errors)
    for n in sorted(record.trials):
        try:
            a = analyse_trial(run_dir, scenario, record.t0_ns, record.trials[n])
        except Exception as exc:  # never lose the run over a measurement failure
            errors.append(f"measuring trial {n} failed: {type(exc).__name__}: {exc}")
            trials_out.append({"trial": n, "faults": [], "measurement_error": f"{type(exc).__name__}: {exc}"})
            continue
        analyses.append(a)
        entry: dict[str, Any] = {"trial": a.trial, "load": a.load, "faults": a.faults}
        if scenario.rollback is not None:
            entry["rollback"] = None if a.rollback is None else a.rollback.to_dict()
        if record.started.get("consistency"):
            try:
                c = consistency_of(run_dir, record, n)
            except AuditSchemaError as exc:  # no data verdict from an audit that was not understood
                errors.append(f"trial {n}: {exc}")
                entry["consistency"] = None
                trials_out.append(entry)
                continue
            except (OSError, ValueError) as exc:
                errors.append(f"reconciling trial {n} failed: {exc}")
                c = None
            entry["consistency"] = None if c is None else c.to_dict()
            if c is not None and c.unledgered:  # the ledger missed requests: a harness error (exit 3)
                errors.append(f"trial {n}: {c.unledgered} unledgered effects, keys {c.unledgered_keys}")
            if c is not None and entry.get("rollback"):
                damage = {"lost": c.lost, "duplicated": c.duplicated, "corrupted": c.corrupted}
                entry["rollback"]["data_after_rollback"] = {**damage, "clean": not any(damage.values())}
            a.verdicts.extend(judge_consistency(scenario.expect, n, c))
        trials_out.append(entry)
    mttr = mttr_over_trials(trials_out)
    verdicts = [v for a in analyses for v in a.verdicts] + judge_distribution(scenario.expect, mttr)
    finished = record.finished or {}
    complete = (
        bool(finished.get("complete"))
        and not record.interrupted
        and not errors
        and len(analyses) == scenario.trials
    )
    recovered_everywhere = all(f["recovered"] for t in trials_out for f in t["faults"])
    passed = (
        complete
        and all(v.passed for v in verdicts)
        and (recovered_everywhere or scenario.expect.recovery_time is None)
    )
    budget = scenario.rollback.budget if scenario.rollback is not None else DEFAULT_BUDGET
    reasons: list[str] = []
    for t in trials_out:
        for f in t["faults"]:
            if f["kind"] == "deploy":
                continue  # judged through its rollback
            if not f["recovered"]:
                reasons.append(f"trial {t['trial']}: {f['label']} did not recover")
            elif f["recovery_time"] is not None and f["recovery_time"] > budget:
                reasons.append(f"trial {t['trial']}: {f['label']} took {f['recovery_time']:.0f}s to recover")
        rb = t.get("rollback")
        if scenario.rollback is not None and rb is None:
            reasons.append(f"trial {t['trial']}: the rollback never happened")
        elif rb is not None and rb["escalated"]:
            what = (
                f"took {rb['rollback_duration']:.0f}s" if rb["rollback_duration"] is not None else rb["note"]
            )
            reasons.append(f"trial {t['trial']}: rollback {what}")
    results = {
        "schema": SCHEMA,
        "run_id": record.run_id,
        "scenario": scenario.name,
        "scenario_file": record.started.get("scenario_file"),
        "description": scenario.description,
        "target": record.started.get("target"),
        "backend": scenario.backend,
        "seed": scenario.seed,
        "started_at": record.started.get("wallclock"),
        "clock": record.started.get("clock"),
        "t0_ns": record.t0_ns,
        "complete": complete,
        "interrupted": record.interrupted,
        "error": "; ".join(errors) or None,
        "passed": passed,
        "slo": scenario.slo.model_dump(mode="json"),
        "expect": scenario.expect.model_dump(mode="json", exclude_none=True),
        "trials": trials_out,
        "mttr": mttr,
        "verdicts": [v.to_dict() for v in verdicts],
        "escalation": {"budget": budget, "needs_human": bool(reasons), "reasons": reasons},
        "environment": record.started.get("environment", {}),
    }
    return results, analyses
