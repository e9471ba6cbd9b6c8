"""The operations view of one trial: business recovery and detection per fault, and their verdicts.

Reads only what the run wrote: the audit's work items (``accepted_ns``/``finished_ns``/``attempts``)
and the journal's typed monitoring events (:mod:`harness.monitoring.events`), beside the HTTP figures
already measured per fault. The definitions are in :mod:`harness.measure.business` and
:mod:`harness.measure.detection`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.events import Audited, RunEvent
from harness.journal import JOURNAL_NAME, read_events
from harness.measure.audit_columns import WorkArrays, read_work_arrays
from harness.measure.audit_store import audit_documents, has_audit
from harness.measure.business import STAMP_SLACK, BusinessMeasurement, WorkItem, WorkLog, measure_business
from harness.measure.detection import AlertNotice, DetectionMeasurement, measure_detection
from harness.monitoring.events import AlertReceived, MonitoringStarted, MonitoringStopped
from harness.results import FaultResult, Verdict
from harness.results.operations import BusinessResult, DetectionResult
from harness.scenario.durations import Bound, format_seconds
from harness.scenario.models import Expectations, Scenario


@dataclass
class TrialOperations:
    """The faults with their operations figures added, and the operations verdicts."""

    faults: list[FaultResult] = field(default_factory=list)
    business: dict[int, BusinessMeasurement] = field(default_factory=dict)
    detection: dict[int, DetectionMeasurement] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    work_items: int = 0
    monitored: bool = False
    log: WorkLog | None = None  # the audit's work items, for the operations timeline


def work_items(audit_docs: Mapping[str, Any], t0_ns: int) -> list[WorkItem]:
    """Every effect of the audit that carries work-item stamps."""
    items: list[WorkItem] = []
    for doc in audit_docs.values():
        if isinstance(doc, dict):
            for e in doc.get("effects", []):
                item = WorkItem.from_effect(e, t0_ns) if isinstance(e, dict) else None
                if item is not None:
                    items.append(item)
    return items


def work_log_of(work: WorkArrays, t0_ns: int) -> WorkLog:
    """:class:`WorkLog` of the audit's work-item arrays, with :meth:`WorkItem.from_effect`'s
    reading of each field: seconds on the run clock, no ``finished_ns`` not finished, a missing or
    zero ``attempts`` one attempt."""
    return WorkLog.from_ns(work.accepted_ns, work.finished_ns, work.finished, work.attempts, t0_ns)


def _first(*values: float | None) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def notice_of(e: AlertReceived, t0_ns: int) -> AlertNotice:
    return AlertNotice(
        received_at=(e.t_ns - t0_ns) / 1e9,
        status=e.status,
        name=e.alertname,
        fingerprint=e.fingerprint or e.alertname,
        labels=e.labels,
        annotations=e.annotations,
    )


def measure_operations(
    scenario: Scenario,
    trial: int,
    *,
    t0_ns: int,
    faults: Sequence[FaultResult],
    load_start: float,
    load_stop: float | None = None,
    audit_docs: Mapping[str, Any] | None,
    audit_at: float | None,
    events: Sequence[RunEvent],
    work: WorkLog | None = None,
) -> TrialOperations:
    """Business and detection figures of one trial's faults (as the HTTP analysis measured them),
    returned as the same faults with ``business`` and ``detection`` filled in. The work items are
    ``work`` when given (read by column), else those of ``audit_docs``."""
    out = TrialOperations()

    def rel(ns: int) -> float:
        return (int(ns) - t0_ns) / 1e9

    mine = [e for e in events if getattr(e, "trial", None) == trial]
    started = next((e for e in mine if isinstance(e, MonitoringStarted)), None)
    stopped = next((e for e in mine if isinstance(e, MonitoringStopped)), None)
    notices = [notice_of(e, t0_ns) for e in mine if isinstance(e, AlertReceived)]
    out.monitored = started is not None
    log = _read_work_log(out, audit_docs, audit_at, t0_ns, work)
    ordered = sorted(faults, key=lambda f: f.injected_at)
    first_injection = ordered[0].injected_at if ordered else None
    for n, f in enumerate(ordered):
        injected = f.injected_at
        cleared = f.cleared_at if f.cleared_at is not None else injected
        bm: BusinessMeasurement | None = None
        update: dict[str, Any] = {}
        if log is not None and audit_at is not None and load_start <= injected <= cleared <= audit_at:
            bm = measure_business(
                log,
                baseline_from=load_start,
                baseline_to=first_injection,
                injected_at=injected,
                cleared_at=cleared,
                hold=scenario.slo.hold,
                observe_to=audit_at,
                load_stopped_at=load_stop,
                next_injection=ordered[n + 1].injected_at if n + 1 < len(ordered) else None,
            )
            out.business[f.index] = bm
            update["business"] = BusinessResult.model_validate(bm.to_dict())
        dm: DetectionMeasurement | None = None
        if started is not None:
            received = [x.received_at for x in notices]
            end = rel(stopped.t_ns) if stopped is not None else max([audit_at or 0.0, *received])
            until = ordered[n + 1].injected_at if n + 1 < len(ordered) else end
            dm = _detection_of(f, bm, notices, started, until=until, end=end)
            out.detection[f.index] = dm
            update["detection"] = DetectionResult.model_validate(dm.to_dict())
        out.faults.append(f.model_copy(update=update) if update else f)
        out.verdicts.extend(judge_operations(scenario, trial, f.label, bm, dm, monitored=out.monitored))
    return out


def _read_work_log(
    out: TrialOperations,
    audit_docs: Mapping[str, Any] | None,
    audit_at: float | None,
    t0_ns: int,
    work: WorkLog | None,
) -> WorkLog | None:
    """The work items of the audit as a log (None without an audit or without items); the count
    and the log are kept in ``out``."""
    if audit_at is None or (work is None and audit_docs is None):
        return None
    if work is None and audit_docs is not None:
        work = WorkLog(work_items(audit_docs, t0_ns))
    out.work_items = len(work) if work is not None else 0
    log = work if out.work_items else None
    out.log = log
    return log


def _detection_of(
    f: FaultResult,
    bm: BusinessMeasurement | None,
    notices: list[AlertNotice],
    started: MonitoringStarted,
    *,
    until: float,
    end: float,
) -> DetectionMeasurement:
    """Detection of one fault, its impact and recovery taken from the requests or the work,
    whichever shows them (impact: the first; recovery: the later, unknown if either is)."""
    impact = _first(f.impact_at, None if bm is None else bm.left_range_at)
    res = f.resolution.time_to_impact if impact == f.impact_at else STAMP_SLACK
    recovered = f.recovered_at
    rec_res = f.resolution.recovered_at
    if bm is not None:
        if recovered is None or bm.backlog_recovered_at is None:
            recovered = None
        elif bm.backlog_recovered_at >= recovered:
            recovered, rec_res = bm.backlog_recovered_at, bm.resolution
    return measure_detection(
        notices,
        injected_at=f.injected_at,
        until=until,
        impact_at=impact,
        recovered_at=recovered,
        observe_to=end,
        escalate_after=started.escalate_after,
        runbook_root=Path(started.runbook_root),
        impact_resolution=float(res or 0.0),
        recovered_resolution=float(rec_res or 0.0),
    )


def operations_of(
    run_dir: Path,
    scenario: Scenario,
    t0_ns: int,
    trial: int,
    faults: Sequence[FaultResult],
    load_start: float,
    load_stop: float | None,
) -> TrialOperations:
    """:func:`measure_operations` from a run directory: its journal and the trial's audit."""
    events = read_events(run_dir / JOURNAL_NAME)
    audit_at = next(
        ((e.t_ns - t0_ns) / 1e9 for e in events if isinstance(e, Audited) and e.trial == trial),
        None,
    )
    trial_dir = run_dir / f"trial-{trial}"
    docs: Any = None
    work: WorkLog | None = None
    if audit_at is not None and has_audit(trial_dir):  # without its instant the work is not measured
        arrays = read_work_arrays(trial_dir)  # the reconcile's own parse, by column
        if arrays is not None:
            work = work_log_of(arrays, t0_ns)
            del arrays  # the log holds what it needs, in seconds
        else:  # a shape Arrow cannot hold in columns: every effect read as JSON, as it always was
            docs = audit_documents(trial_dir)
    return measure_operations(
        scenario,
        trial,
        t0_ns=t0_ns,
        faults=faults,
        load_start=load_start,
        load_stop=load_stop,
        audit_docs=docs if isinstance(docs, dict) else None,
        audit_at=audit_at,
        events=events,
        work=work,
    )


def _bound_verdict(
    name: str, trial: int, fault: str, bound: Bound, value: float | None, missing: str, res: float | None
) -> Verdict:
    measured = math.inf if value is None else value
    passed = bound.holds(measured)
    margin = None if math.isinf(measured) else bound.margin(measured)
    text = missing if value is None else format_seconds(value, res)
    return Verdict(
        expectation=name,
        trial=trial,
        fault=fault,
        target=bound.text,
        measured=value,
        measured_text=text,
        passed=passed,
        margin=margin,
        resolution=res,
    )


def _alerts_text(dm: DetectionMeasurement) -> str:
    return (
        ", ".join(f"{a.name} ({'symptom' if a.symptom else 'cause'})" for a in dm.alerts) or "nothing fired"
    )


def judge_operations(
    scenario: Scenario,
    trial: int,
    fault: str,
    bm: BusinessMeasurement | None,
    dm: DetectionMeasurement | None,
    *,
    monitored: bool,
) -> list[Verdict]:
    """Verdicts of the operations expectations for one fault. A figure that could not be measured
    (no work items in the audit, no monitoring ran) fails its expectation: unverified is not a pass."""
    expect = scenario.expect
    why_not = "no monitoring ran" if not monitored else "not measured"
    return [
        *_business_verdicts(expect, trial, fault, bm),
        *_detect_verdicts(expect, trial, fault, dm, why_not),
        *_alert_verdicts(expect, trial, fault, dm, why_not),
    ]


def _business_verdicts(
    expect: Expectations, trial: int, fault: str, bm: BusinessMeasurement | None
) -> list[Verdict]:
    """``backlog_recovery_time`` and ``cycle_time_p95``, from the work items of the audit."""
    out: list[Verdict] = []
    if expect.backlog_recovery_time is not None:
        if bm is None:
            out.append(
                _missing(
                    "backlog_recovery_time",
                    trial,
                    fault,
                    expect.backlog_recovery_time.text,
                    "no work items in the audit",
                )
            )
        else:
            missing = (
                f"not recovered ({bm.unfinished_at_end} unfinished at the end,"
                f" stuck ratio {bm.stuck_ratio or 0:.0%})"
            )
            out.append(
                _bound_verdict(
                    "backlog_recovery_time",
                    trial,
                    fault,
                    expect.backlog_recovery_time,
                    bm.backlog_recovery_time,
                    missing,
                    bm.resolution,
                )
            )
    if expect.cycle_time_p95 is not None:
        if bm is None:
            out.append(
                _missing(
                    "cycle_time_p95", trial, fault, expect.cycle_time_p95.text, "no work items in the audit"
                )
            )
        else:
            out.append(
                _bound_verdict(
                    "cycle_time_p95",
                    trial,
                    fault,
                    expect.cycle_time_p95,
                    bm.cycle_time_p95,
                    "no work finished",
                    STAMP_SLACK,
                )
            )
    return out


def _detect_verdicts(
    expect: Expectations, trial: int, fault: str, dm: DetectionMeasurement | None, why_not: str
) -> list[Verdict]:
    """``time_to_detect``: nothing impacted is nothing to detect (a pass), not a miss."""
    out: list[Verdict] = []
    if expect.time_to_detect is not None:
        if dm is None:
            out.append(_missing("time_to_detect", trial, fault, expect.time_to_detect.text, why_not))
        elif dm.impact_at is None:
            # nothing was impacted: nothing to detect, and an alert then is not a miss either
            out.append(
                Verdict(
                    expectation="time_to_detect",
                    trial=trial,
                    fault=fault,
                    target=expect.time_to_detect.text,
                    measured=None,
                    measured_text="no impact to detect",
                    passed=True,
                    margin=None,
                )
            )
        else:
            out.append(
                _bound_verdict(
                    "time_to_detect",
                    trial,
                    fault,
                    expect.time_to_detect,
                    dm.time_to_detect,
                    "not detected (nothing fired)",
                    dm.resolution,
                )
            )
    return out


def _alert_verdicts(
    expect: Expectations, trial: int, fault: str, dm: DetectionMeasurement | None, why_not: str
) -> list[Verdict]:
    """``alerts.symptom``/``runbook``/``resolved``: what the alerts that fired were like."""
    out: list[Verdict] = []
    alerts = expect.alerts
    if alerts is not None:
        for name, wanted in (
            ("symptom", alerts.symptom),
            ("runbook", alerts.runbook),
            ("resolved", alerts.resolved),
        ):
            if wanted is None:
                continue
            key = f"alerts.{name}"
            if dm is None:
                out.append(_missing(key, trial, fault, str(wanted).lower(), why_not))
                continue
            value = {"symptom": dm.symptom, "runbook": dm.runbook, "resolved": dm.resolved}[name]
            out.append(
                Verdict(
                    expectation=key,
                    trial=trial,
                    fault=fault,
                    target=str(wanted).lower(),
                    measured=value,
                    measured_text=_why(name, value, dm),
                    passed=value == wanted,
                    margin=None,
                )
            )
    return out


def _why(name: str, value: bool, dm: DetectionMeasurement) -> str:
    if not dm.alerts:
        return "no: nothing fired"
    if name == "symptom":
        return ("yes: " if value else "no: only causes fired: ") + _alerts_text(dm)
    if name == "runbook":
        bad = [a for a in dm.alerts if not a.runbook_ok]
        if not bad:
            return "yes: every alert has a shipped runbook"
        return f"no: {len(bad)} alert(s) are noise, e.g. {bad[0].name}: {bad[0].runbook_note}"
    open_ = [a.name for a in dm.alerts if a.resolved_at is None]
    return "yes" if not open_ else f"no: still firing: {', '.join(open_)}"


def _missing(name: str, trial: int, fault: str, target: str, why: str) -> Verdict:
    return Verdict(
        expectation=name,
        trial=trial,
        fault=fault,
        target=target,
        measured=None,
        measured_text=why,
        passed=False,
        margin=None,
    )
