"""The per-trial part of ``report.html``: load, timeline figures, rollback and data consistency.

A trial's detail is long (two figures and three tables), so a run of several trials shows the
trials side by side first and folds each trial's detail behind a one-line summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from harness.report import CONSISTENCY_PROBLEMS, consistency_rows, figure_text, seconds_text
from harness.report.html_parts import esc, img, table, td
from harness.report.words import oom_kills_text, remote_workers_text
from harness.results import Results, RollbackResult, TrialResult

if TYPE_CHECKING:
    from harness.measure.trial_analysis import TrialAnalysis


def trial_section(results: Results, trial: TrialResult, analysis: TrialAnalysis | None) -> str:
    n = trial.trial
    out = [f'<section id="trial-{esc(n)}"><h2>Trial {esc(n)}</h2>']
    if trial.measurement_error:
        out.append(f"<p><strong>Could not be measured:</strong> {esc(trial.measurement_error)}</p>")
    if trial.harness_failure is not None:
        hf = trial.harness_failure
        out.append(
            f"<p><strong>The harness failed ({esc(hf.component)}) at {esc(seconds_text(hf.at, 0.01))}:"
            f"</strong> {esc(hf.detail)}. This trial says nothing about the target.</p>"
        )
    load = trial.load
    if load is not None:
        out.append(
            f"<p>{esc(load.requests)} requests: {esc(load.ok)} succeeded, "
            f"{esc(load.fail)} were refused or rejected, {esc(load.indeterminate)} "
            f"got no clear answer. Load ran from {esc(seconds_text(load.started_at, 0.01))} to "
            f"{esc(seconds_text(load.stopped_at, 0.01))}.</p>"
        )
        remote = remote_workers_text(load)
        if remote:
            out.append(f"<p>{esc(remote[0].upper() + remote[1:])}.</p>")
    if trial.oom_kills:
        out.append(f"<p>{esc(oom_kills_text(trial))}.</p>")
    if analysis is not None:
        out.append(_trial_figure(results, trial, analysis))
    if trial.rollback is not None:
        out.append(_rollback(trial.rollback))
    elif results.as_run is not None and results.as_run.rollback is not None:
        out.append("<h3>Rollback</h3><p><strong>No rollback happened in this trial.</strong></p>")
    if trial.consistency is not None:
        out.append(_consistency(trial))
    return "".join(out) + "</section>"


def _trial_figure(results: Results, trial: TrialResult, analysis: TrialAnalysis) -> str:
    from harness.report.timeline_plot import timeline_png

    png = timeline_png(analysis, trial.faults, results.slo, trial.rollback)
    if png is None:
        return "<p>No request was recorded in this trial: nothing to draw.</p>"
    labels = ", ".join(f.label for f in trial.faults) or "no fault"
    alt = f"timeline of trial {trial.trial}: throughput, failures and response times; {labels}"
    return (
        f"<figure>{img(png, alt)}"
        "<figcaption>Hatched orange: the fault was active. Dashed line: first moment users were "
        "affected; solid line: recovered. The dotted band around each line is its resolution "
        "(±): the true instant lies within it. Bottom strip: grey where the service missed its "
        "target.</figcaption></figure>"
    ) + _operations_figure(trial, analysis)


def _operations_figure(trial: TrialResult, analysis: TrialAnalysis) -> str:
    """The work's timeline (backlog, both recoveries, detection), when the target reports work."""
    from harness.report.operations_plot import operations_png

    t_from, t_to = analysis.observe_from, analysis.observe_to
    if analysis.work is None or t_from is None or t_to is None:
        return ""
    png = operations_png(analysis.work, trial.faults, t_from, t_to)
    if png is None:
        return ""
    alt = f"operations timeline of trial {trial.trial}: backlog, HTTP and business recovery, detection"
    return (
        f"<figure>{img(png, alt)}"
        "<figcaption>The work behind the requests: the backlog of accepted, unfinished work and its"
        " baseline range; HTTP recovery and backlog recovery on one axis, with the first alert, the"
        " first symptom page and the alerts' resolution from the target's own monitoring."
        "</figcaption></figure>"
    )


def _consistency(trial: TrialResult) -> str:
    out = ["<h3>Data consistency</h3>"]
    cells = []
    for k, c, ex, meaning in consistency_rows(trial.consistency):
        bad = k in CONSISTENCY_PROBLEMS and c not in ("0", "-")  # data went wrong: say it loudly
        cells.append(
            [
                td(k, "fail" if bad else ""),
                td(c, "num fail" if bad else "num"),
                td(", ".join(ex) or "-"),
                td(meaning),
            ]
        )
    out.append(table(["category", "count", "examples (ids)", "meaning"], cells, raw=True))
    out.append(
        '<p class="note">Writes are matched by idempotency key between what clients were told '
        "(the ledger) and what the system kept (the audit, read after the drain wait). "
        "Writes with no clear answer may be present or absent; they are never counted as lost.</p>"
    )
    return "".join(out)


def _rollback(rb: RollbackResult) -> str:
    """A trial's rollback (DESIGN.md: rollback_duration, detection_to_rollback, escalation)."""
    res = rb.resolution
    rows = [
        ["triggered at", seconds_text(rb.triggered_at, 0.01), rb.reason],
        ["action", rb.action, "succeeded" if rb.action_ok else "FAILED"],
        ["action took", seconds_text(rb.action_duration, 0.01), "from the trigger"],
        ["old version confirmed at", seconds_text(rb.confirmed_at, 0.01), ""],
        ["healthy again at", figure_text(rb.recovered_at, res), ""],
        [
            "rollback duration",
            "did not roll back" if rb.rollback_duration is None else figure_text(rb.rollback_duration, res),
            "trigger until healthy at the old version",
        ],
        [
            "first impact to rollback",
            figure_text(rb.detection_to_rollback, res),
            "how long until someone (or something) pulled the lever",
        ],
        ["needs a human?", "YES" if rb.escalated else "no", f"budget {rb.budget:g} s"],
    ]
    note = f'<p class="note">{esc(rb.note)}</p>' if rb.note else ""
    return "<h3>Rollback</h3>" + table(["", "value", "meaning"], rows) + note


def trials_side_by_side(results: Results, analyses: Sequence[TrialAnalysis]) -> str:
    from harness.report.trials_plot import trials_png

    png = trials_png(results.trials, analyses, results.slo)
    if png is None:
        return ""
    return (
        '<section id="trials"><h2>The trials side by side</h2><figure>'
        + img(png, "every trial's share of failing requests and p95 response time, on shared axes")
        + "<figcaption>One column per trial, on shared axes, time counted from the trial's first "
        "fault. Solid line: share of requests failing; dashed: p95 response time; hatched: the fault "
        "was active; vertical line: recovered. Each trial's full timeline is below, folded."
        "</figcaption></figure></section>"
    )


def folded(trial: TrialResult, section: str) -> str:
    """A trial's detail behind a one-line summary (a 3-trial page was 7,500 px long unfolded)."""
    rts = [f.recovery_time for f in trial.faults]
    if trial.measurement_error or trial.harness_failure:
        what = "not measured" if trial.measurement_error else "harness failure"
    elif not rts:
        what = "no fault measured"
    elif all(r is not None for r in rts):
        what = "recovered in " + ", ".join(
            seconds_text(f.recovery_time, f.resolution.recovery_time) for f in trial.faults
        )
    else:
        what = "NOT recovered"
    summary = f"Trial {esc(trial.trial)}: {esc(what)} (timeline and detail)"
    return f"<details><summary>{summary}</summary>{section}</details>"
