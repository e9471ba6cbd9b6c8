"""The operations view in words: HTTP recovery beside business recovery, and detection, per fault.

An API that recovers at once while its backlog drains for tens of seconds is the case this
exists for: both recoveries are printed side by side, each with its resolution.
"""

from __future__ import annotations

from harness.results import FaultResult, Results
from harness.results.abort import recovery_word
from harness.results.operations import BusinessResult, DetectionResult
from harness.scenario.durations import format_seconds


def _s(value: float | None, res: float | None = None, none: str = "-") -> str:
    return none if value is None else format_seconds(value, res) + (f" ±{res:.2g}s" if res else "")


def _business(b: BusinessResult) -> str:
    back = (
        _s(b.backlog_recovery_time, b.resolution.backlog_recovery_time)
        if b.backlog_recovered
        else f"NOT RECOVERED ({b.unfinished_at_end} unfinished at the end)"
    )
    ct = b.cycle_time
    return (
        f"  backlog recovery   {back}; backlog {b.baseline_backlog} in baseline, max {b.max_backlog};"
        f" cycle time p95 {_s(ct.before.p95)} before, {_s(ct.during.p95)} during, {_s(ct.after.p95)}"
        f" after; retries {b.retries}; stuck ratio {100 * (b.stuck_ratio or 0):.1f}%"
    )


def _detection(d: DetectionResult) -> list[str]:
    if not d.alerts:
        return ["  detection          NOTHING FIRED"]
    res = d.resolution
    if d.time_to_resolve is not None:
        resolved = f"resolved {_s(d.time_to_resolve, res.time_to_resolve)} after recovery"
    else:
        resolved = "all resolved (no recovery to count from)" if d.resolved else "NOT all resolved"
    kinds = ", ".join(
        f"{a.name} ({'symptom' if a.symptom else 'cause'}"
        f"{'' if a.runbook else ', no runbook'}{', ESCALATE' if a.escalate else ''})"
        for a in d.alerts
    )
    detect = _s(d.time_to_detect, res.time_to_detect, "no impact")
    symptom = _s(d.time_to_detect_symptom, res.time_to_detect, "never")
    return [
        f"  detection          {detect} after the first impact ({d.alerts[0].name});"
        f" symptom page {symptom}; {resolved}",
        f"  alerts             {kinds}",
    ]


def fault_lines(trial: int, f: FaultResult) -> list[str]:
    if f.business is None and f.detection is None:
        return []
    http = recovery_word(f.note) if not f.recovered else _s(f.recovery_time, f.resolution.recovery_time)
    lines = [
        f"operations, trial {trial}, {f.label}:",
        f"  HTTP recovery      {http}{'' if f.impact_at is not None else ' (never impacted)'}",
    ]
    if f.business is not None:
        lines.append(_business(f.business))
    if f.detection is not None:
        lines += _detection(f.detection)
    return lines


def operations_lines(results: Results) -> list[str]:
    lines = [line for trial, f in results.faults() for line in fault_lines(trial, f)]
    return [*lines, ""] if lines else []
