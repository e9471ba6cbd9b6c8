"""The verdict table printed at the end of a run."""

from __future__ import annotations

from harness.report.evidence import bracket_text, fidelity_text
from harness.report.headline import no_verdict_sentence
from harness.report.operations import operations_lines
from harness.report.words import margin_text, resolution_text, seconds_text
from harness.results import Results, TrialResult
from harness.results.abort import recovery_word


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _secs(value: float | None, resolution: float | None = None) -> str:
    """A figure no more precise than its resolution (``0.5 s``, never ``0.49s`` beside ``±0.44s``)."""
    return "-" if value is None else seconds_text(value, resolution)


def _columns(header: list[str], rows: list[list[str]]) -> list[str]:
    """A header and its rows, each column as wide as its widest cell."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [_row(header, widths), *(_row(r, widths) for r in rows)]


def verdict_table(results: Results) -> str:
    """What went wrong with the run itself, the faults' figures, the data, then the verdicts."""
    lines = _no_verdict_lines(results)
    faults = _fault_rows(results)
    if faults:
        fh = ["trial", "fault", "injected", "cleared", "impact after", "recovery", "outage", "recovery ±"]
        fh += ["recovery (bracket)", "observed effect"]
        lines += [*_columns(fh, faults), ""]
    lines += _data_lines(results.trials)
    lines += operations_lines(results)  # HTTP vs business recovery, detection
    lines += _rollback_lines(results)
    rows = _verdict_rows(results)
    if rows:
        lines += _columns(["", "expectation", "trial", "fault", "target", "measured", "margin"], rows)
    elif not any(t.harness_failure is not None for t in results.trials):
        lines.append(no_verdict_sentence(results))
    return "\n".join(lines)


def _no_verdict_lines(results: Results) -> list[str]:
    """Trials the harness failed and the abort, first: they say why verdicts are missing."""
    lines: list[str] = []
    for t in results.trials:
        hf = t.harness_failure
        if hf is not None:
            when = "" if hf.at is None else f" at t={hf.at:.2f}s"
            alive = "" if hf.last_alive is None else f" (last seen alive at t={hf.last_alive:.2f}s)"
            first = hf.detail.splitlines()[0] if hf.detail else ""
            lines.append(
                f"trial {t.trial}: NO VERDICT: the harness failed ({hf.component}){when}{alive}: {first}"
            )
    if results.aborted is not None:
        lines.append(f"ABORTED at t={results.aborted.at:.2f}s: {results.aborted.reason}")
    if lines:
        lines.append("")
    return lines


def _fault_rows(results: Results) -> list[list[str]]:
    """One row per fault per trial: its instants and figures, each as precise as its resolution."""
    faults: list[list[str]] = []
    for trial, f in results.faults():
        r = f.resolution
        faults.append(
            [
                str(trial),
                f.label,
                _secs(f.injected_at, 0.001),
                _secs(f.cleared_at, 0.001),
                _secs(f.time_to_impact, r.time_to_impact),
                recovery_word(f.note) if not f.recovered else _secs(f.recovery_time, r.recovery_time),
                _secs(f.outage, r.outage),
                resolution_text(r.recovery_time) or "-",
                bracket_text(f),
                fidelity_text(f),
            ]
        )
    return faults


def _verdict_rows(results: Results) -> list[list[str]]:
    return [
        [
            "PASS" if v.passed else "STOPPED" if not v.observed else "FAIL",
            v.expectation,
            "all" if v.trial == 0 else str(v.trial),
            v.fault,
            v.target,
            v.measured_text,
            margin_text(v),
        ]
        for v in results.verdicts
    ]


def _data_lines(trials: list[TrialResult]) -> list[str]:
    lines = []
    for trial in trials:
        c = trial.consistency
        if c is not None:
            lines.append(
                f"data, trial {trial.trial}: {c.writes} writes ({c.acknowledged} acknowledged,"
                f" {c.indeterminate} indeterminate: {c.indeterminate_present} applied,"
                f" {c.indeterminate_absent} not); lost {c.lost}, duplicated {c.duplicated},"
                f" corrupted {c.corrupted}, phantom {c.phantom}, stuck {c.stuck + c.pending}"
            )
    return [*lines, ""] if lines else []


def _rollback_lines(results: Results) -> list[str]:
    lines = []
    for trial in results.trials:
        rb = trial.rollback
        if rb is None:
            continue
        dur = "none" if rb.rollback_duration is None else _secs(rb.rollback_duration, rb.resolution)
        det = _secs(rb.detection_to_rollback, rb.resolution)
        lines.append(
            f"rollback, trial {trial.trial}: {rb.action} ({rb.reason}); duration {dur}"
            f" {resolution_text(rb.resolution)}, detection to rollback {det}"
            + (f"; {rb.note}" if rb.note else "")
        )
        data = rb.data_after_rollback
        if data and not data.clean:
            lines.append(
                f"  service restored, data NOT: {data.corrupted} corrupted, {data.lost} lost,"
                f" {data.duplicated} duplicated writes remain after the rollback (not a full recovery)"
            )
    lines.extend(f"WARNING: {w}" for w in results.warnings)
    esc = results.escalation
    if esc and esc.needs_human:
        lines.append(
            f"ESCALATE: needs a human (automated-recovery budget {esc.budget:g}s): " + "; ".join(esc.reasons)
        )
    if any(t.rollback for t in results.trials) or (esc and esc.needs_human):
        lines.append("")
    return lines
