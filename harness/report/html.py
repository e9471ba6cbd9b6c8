"""``report.html``: the page an operations lead reads, in one self-contained file.

Self-contained means it can be mailed, attached to a ticket or archived by CI and still open
years later on a machine with no network: the CSS is inline, the figures are base64 PNGs in
``data:`` URIs, and there is no script at all. It is readable without colour (every PASS/FAIL
is a word, every series has a line style and a direct label, fault windows are hatched) and it
speaks plain words first ("requests per second", "share of requests failing"), with the precise
definitions one click away in the "How to read this" section.

A pure renderer: it draws from ``results`` (the ``results.json`` document) and the per-trial
:class:`~harness.analysis.TrialAnalysis` (for the request-level series), plus the run dir's
``scenario.yaml`` copy. It never asks the orchestrator anything.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import atomic_write_text
from harness.report import (
    CONSISTENCY_PROBLEMS,
    EXPECTATION_WORDS,
    as_run_words,
    bound_kind,
    consistency_rows,
    escalation_text,
    figure_text,
    headline,
    margin_text,
    measured_words,
    miss_sentence,
    mttr_stats,
    mttr_text,
    no_verdict_sentence,
    plain_bound,
    resolution_text,
    seconds_text,
    slo_sentence,
    status_word,
)
from harness.report.evidence import bracket_text, fidelity_text
from harness.report.lead import lead
from harness.report.style import REPORT_CSS as _CSS
from harness.results import Results, RollbackResult, TrialResult, Verdict
from harness.results.abort import ABORTED_NOTE

if TYPE_CHECKING:
    from harness.analysis import TrialAnalysis

REPORT_NAME = "report.html"
#: DESIGN.md, "escalation": without a stated recovery target, automation gets three minutes.
DEFAULT_AUTOMATED_RECOVERY_BUDGET = 180.0


def _e(value: Any) -> str:
    return escape("" if value is None else str(value))


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, raw: bool = False) -> str:
    """An HTML table; cells are escaped unless ``raw`` (then each cell is a full ``<td>``)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(row) if raw else "".join(f"<td>{_e(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _td(text: str, cls: str = "", title: str = "") -> str:
    attrs = (f' class="{cls}"' if cls else "") + (f' title="{_e(title)}"' if title else "")
    return f"<td{attrs}>{_e(text)}</td>"


# -- sections -----------------------------------------------------------------------------------


def _header(results: Results) -> str:
    word = status_word(results)
    line = headline(results)
    rest = line.split(": ", 1)[1] if ": " in line else line
    trials = len(results.trials)
    facts = [
        f"scenario <strong>{_e(results.scenario)}</strong>",
        f"target {_e(results.target or 'unknown')}",
        f"{trials} trial{'s' if trials != 1 else ''}",
        f"run {_e(results.run_id)}",
        f"started {_e(results.started_at or 'unknown')}",
    ]
    desc = results.description
    misses = [v for v in results.verdicts if not v.passed]
    listed = ""
    if len(misses) > 1:  # the headline names the first; an operations lead wants all of them

        def which(v: Verdict) -> str:
            return "all trials" if v.trial == 0 else f"trial {v.trial}"

        items = "".join(f"<li>{_e(miss_sentence(v))} ({_e(which(v))}, {_e(v.fault)})</li>" for v in misses)
        listed = f"<p>Every expectation missed:</p><ul>{items}</ul>"
    escalate = escalation_text(results)
    if escalate:
        listed += f'<p class="escalate">ESCALATE: {_e(escalate)}</p>'
    listed += "".join(f'<p class="escalate">WARNING: {_e(w)}</p>' for w in results.warnings)
    return (
        f'<header class="headline {word}">'
        f'<h1 class="lead">{_lead_html(results)}</h1>'
        f'<p class="why">{_e(rest[:1].upper() + rest[1:])}</p>{listed}'
        f'<p class="meta">{" · ".join(facts)}</p>'
        f'<p class="meta">as run: {_e(as_run_words(results))}</p>'
        + (f'<p class="meta">{_e(desc)}</p>' if desc else "")
        + "</header>"
    )


def _lead_html(results: Results) -> str:
    """The lead line with its verdict word set as the badge (the word is said once, not twice)."""
    text = lead(results)
    word = status_word(results)
    if text.startswith(word):
        return f'<span class="status">{_e(word)}</span>{_e(text[len(word) :])}'
    return _e(text)


def _verdicts(results: Results) -> str:
    verdicts = results.verdicts
    out = ['<section id="verdicts"><h2>Expectations</h2>']
    if not verdicts:
        out.append(f"<p>{_e(no_verdict_sentence(results))}</p>")
        return "".join(out) + "</section>"
    rows = []
    for v in verdicts:
        ok = v.passed
        measured = measured_words(v)
        rows.append(
            [
                _td("✔ PASS" if ok else "✘ FAIL", "pass" if ok else "fail"),
                _td(v.expectation, title=EXPECTATION_WORDS.get(v.expectation, "")),
                _td("all" if v.trial == 0 else str(v.trial), "num"),
                _td(v.fault, "label"),
                _td(
                    plain_bound(v.target, bound_kind(v.expectation)),
                    title=f"as stated in the scenario: {v.target}",
                ),
                _td(measured, "num"),
                _td(margin_text(v), "num"),
            ]
        )
    out.append(
        _table(["result", "expectation", "trial", "fault", "target", "measured", "margin"], rows, raw=True)
    )
    out.append(
        '<p class="note">Margin: how far inside (+) or outside (−) the target the measurement landed. '
        "Durations carry their resolution (±): a figure is never printed more precisely than it "
        "was measured.</p></section>"
    )
    return "".join(out)


def _budget(results: Results) -> float:
    """The automated-recovery budget the analysis judged escalation by (three minutes by default)."""
    esc = results.escalation
    return esc.budget if esc is not None else DEFAULT_AUTOMATED_RECOVERY_BUDGET


def _recovery_target(results: Results) -> float | None:
    """The stated ceiling on recovery_time in seconds (for the MTTR plot), if there is one."""
    target = results.expect.recovery_time
    if not isinstance(target, str):
        return None
    from harness.scenario.durations import parse_bound

    try:
        bound = parse_bound(target, duration=True)
    except ValueError:
        return None
    return bound.value if bound.op in ("<=", "<") else None


def _recovery_table(results: Results) -> str:
    rows = []
    budget = _budget(results)
    for trial, f in results.faults():
        res = f.resolution
        rt = f.recovery_time
        if not f.recovered and f.note == ABORTED_NOTE:
            recovery, human = "aborted", "no: not observed (the rehearsal was aborted)"
        elif not f.recovered:
            recovery, human = "not recovered", "yes: not recovered"
        else:
            recovery = figure_text(rt, res.recovery_time)
            human = f"yes: over {budget:g} s" if rt is not None and rt > budget else "no"
        tti = f.time_to_impact
        impact = "never" if tti is None else figure_text(tti, res.time_to_impact)
        err = f.error_rate_during_fault
        rows.append(
            [
                _td(str(trial), "num"),
                f'<td class="label">{_e(f.label)}'
                + (f'<br><span class="wrap note">{_e(f.note)}</span>' if f.note else "")
                + "</td>",
                _td(seconds_text(f.injected_at, 0.001), "num"),
                _td(seconds_text(f.cleared_at, 0.001), "num"),
                _td(impact, "num"),
                _td(recovery, "num" if f.recovered else "fail"),
                _td(figure_text(f.outage, res.outage), "num"),
                _td("-" if err is None else f"{err * 100:.3g} %", "num"),
                _td(bracket_text(f), "num"),
                _td(
                    fidelity_text(f),
                    "fail" if f.fidelity is not None and f.fidelity.no_effect else "",
                    "" if f.fidelity is None else f.fidelity.note,
                ),
                _td(human),
            ]
        )
    if not rows:
        return "<p>No fault was measured in this run (see the headline for why).</p>"
    header = [
        "trial",
        "fault",
        "fault started at",
        "fault ended at",
        "users affected after",
        "recovered after the fault ended",
        "unhealthy time",
        "requests failing during the fault",
        "recovered after (request bracket)",
        "observed effect of the fault",
        "needs a human?",
    ]
    return _table(header, rows, raw=True) + (
        f'<p class="note">Times are seconds since the run started. "Needs a human" marks a recovery '
        f"slower than the automated-recovery budget ({budget:g} s).</p>"
    )


def _mttr(results: Results) -> str:
    stats = mttr_stats(results)
    out = ['<section id="mttr"><h2>Recovery time over trials (MTTR)</h2>']
    if not stats:
        return "".join(out) + "<p>No fault was measured.</p></section>"
    rows = []
    for s in stats:
        each = ", ".join(
            f"trial {trial}: {'not recovered' if v is None else seconds_text(v, r)}"
            for trial, v, r in s.values
        )
        rows.append(
            [
                s.fault,
                str(len(s.values)),
                mttr_text(s.median, s.resolution),
                mttr_text(s.p95, s.resolution),
                mttr_text(s.max, s.resolution),
                resolution_text(s.resolution),
                each,
            ]
        )
    out.append(_table(["fault", "trials", "median", "p95", "max", "resolution", "every trial"], rows))
    if len(results.trials) > 1:
        from harness.report.plots import mttr_png

        png = mttr_png(stats, _recovery_target(results))
        out.append(
            f"<figure>{_img(png, 'recovery time of every trial, one dot per trial, median and p95 marked')}"
            "<figcaption>One dot per trial; the tall bar is the median, the short bar the 95th "
            "percentile, the dashed line the target. A cross at the right edge is a trial that never "
            "recovered.</figcaption></figure>"
        )
    return "".join(out) + "</section>"


def _trial(results: Results, trial: TrialResult, analysis: TrialAnalysis | None) -> str:
    n = trial.trial
    out = [f'<section id="trial-{_e(n)}"><h2>Trial {_e(n)}</h2>']
    if trial.measurement_error:
        out.append(f"<p><strong>Could not be measured:</strong> {_e(trial.measurement_error)}</p>")
    if trial.harness_failure is not None:
        hf = trial.harness_failure
        out.append(
            f"<p><strong>The harness failed ({_e(hf.component)}) at {_e(seconds_text(hf.at, 0.01))}:"
            f"</strong> {_e(hf.detail)}. This trial says nothing about the target.</p>"
        )
    load = trial.load
    if load is not None:
        out.append(
            f"<p>{_e(load.requests)} requests: {_e(load.ok)} succeeded, "
            f"{_e(load.fail)} were refused or rejected, {_e(load.indeterminate)} "
            f"got no clear answer. Load ran from {_e(seconds_text(load.started_at, 0.01))} to "
            f"{_e(seconds_text(load.stopped_at, 0.01))}.</p>"
        )
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
        f"<figure>{_img(png, alt)}"
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
        f"<figure>{_img(png, alt)}"
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
                _td(k, "fail" if bad else ""),
                _td(c, "num fail" if bad else "num"),
                _td(", ".join(ex) or "-"),
                _td(meaning),
            ]
        )
    out.append(_table(["category", "count", "examples (ids)", "meaning"], cells, raw=True))
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
    note = f'<p class="note">{_e(rb.note)}</p>' if rb.note else ""
    return "<h3>Rollback</h3>" + _table(["", "value", "meaning"], rows) + note


def _how_to_read(results: Results) -> str:
    slo = results.slo
    return (
        '<section id="definitions"><h2>How to read this</h2>'
        f"<p>{_e(slo_sentence(slo))}</p><dl class='defs'>"
        "<dt>users affected after (time to impact)</dt><dd>from the moment the fault was injected until "
        "the service first missed its target.</dd>"
        "<dt>recovered after the fault ended (recovery time, MTTR)</dt><dd>from the moment the fault was "
        "removed until the service met its target again and kept meeting it for the hold time.</dd>"
        "<dt>unhealthy time (outage)</dt><dd>total time the service missed its target between the fault "
        "starting and the recovery.</dd>"
        "<dt>resolution (±)</dt><dd>the uncertainty of a figure: the evaluation step plus the largest gap "
        "between completed requests around the instant. Figures are never printed more precisely.</dd>"
        "<dt>requests</dt><dd>a failed (or too slow) request counts when it was sent, a good one when it "
        "ended: each where it tells the truth, so a slow failure cannot move the recovery late. A request "
        "with no answer counts against the service, and a stretch with no request at all is an outage, "
        "not a quiet moment.</dd>"
        "<dt>recovered after (request bracket)</dt><dd>the recovery located by the requests themselves: "
        "after the start of the last failing request, no later than the end of the first good one; ± is "
        "half that bracket.</dd>"
        "<dt>observed effect of the fault</dt><dd>median latency and share failing of the requests sent "
        "while the fault was active, against those sent just before it and what the fault asked for. "
        "NO EFFECT OBSERVED marks a fault that changed nothing the users saw (a mis-wired fault, a link "
        "the requests never cross).</dd>"
        "</dl></section>"
    )


def _scenario(run_dir: Path, results: Results) -> str:
    path = run_dir / "scenario.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = "(scenario.yaml is missing from the run directory)"
    return (
        '<section id="scenario"><h2>The scenario as run</h2>'
        f"<p>From <code>{_e(results.scenario_file or 'unknown file')}</code>; the run used "
        f"seed {_e(results.seed)} and backend {_e(results.backend)} (command-line "
        f"overrides included).</p><p>As run: {_e(as_run_words(results))}.</p><pre>{_e(text)}</pre></section>"
    )


def _environment(results: Results) -> str:
    import matplotlib
    import numpy

    env = results.environment
    rows: list[list[Any]] = [
        ["backend", results.backend],
        ["clock", results.clock],
        ["run started (wall clock)", results.started_at],
        ["run clock at start (t0_ns)", results.t0_ns],
        ["seed", results.seed],
        ["results schema", results.schema_],
    ]
    rows += [[str(k), v] for k, v in env.items()]
    rows += [["report drawn with", f"numpy {numpy.__version__}, matplotlib {matplotlib.__version__}"]]
    return (
        '<section id="environment"><h2>Environment</h2>'
        + _table(["what", "value"], [[k, "" if v is None else str(v)] for k, v in rows])
        + "</section>"
    )


def _failures(results: Results) -> str:
    from harness.report.failures import FAILURE_HEADER, failure_rows, measured, top_errors

    if not measured(results):
        return ""
    rows = failure_rows(results)
    out = ['<section id="failures"><h2>Failed requests, by operation and status</h2>']
    if not rows:
        return "".join(out) + "<p>No request failed.</p></section>"
    out.append("<p>Times in seconds since the run started; share of all requests of that operation.</p>")
    out.append(_table(FAILURE_HEADER, rows))
    errors = top_errors(results)
    if errors:
        items = "".join(
            f"<li>trial {n}: {count:,} × <code>{_e(text)}</code></li>" for n, text, count in errors
        )
        out.append(f"<p>Most common error texts:</p><ul>{items}</ul>")
    return "".join(out) + "</section>"


def _trials_side_by_side(results: Results, analyses: Sequence[TrialAnalysis]) -> str:
    from harness.report.trials_plot import trials_png

    png = trials_png(results.trials, analyses, results.slo)
    if png is None:
        return ""
    return (
        '<section id="trials"><h2>The trials side by side</h2><figure>'
        + _img(png, "every trial's share of failing requests and p95 response time, on shared axes")
        + "<figcaption>One column per trial, on shared axes, time counted from the trial's first "
        "fault. Solid line: share of requests failing; dashed: p95 response time; hatched: the fault "
        "was active; vertical line: recovered. Each trial's full timeline is below, folded."
        "</figcaption></figure></section>"
    )


def _folded(trial: TrialResult, section: str) -> str:
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
    summary = f"Trial {_e(trial.trial)}: {_e(what)} (timeline and detail)"
    return f"<details><summary>{summary}</summary>{section}</details>"


def render_html(run_dir: Path, results: Results, analyses: Sequence[TrialAnalysis]) -> str:
    """The whole page as a string (what :func:`write_html` writes)."""
    by_trial = {a.trial: a for a in analyses}
    word = status_word(results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(word)}: {_e(results.scenario)} — aftershock {_e(results.run_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(results),
        _verdicts(results),
    ]
    several = len(results.trials) > 1
    if several:  # the trials at a glance, before the tables
        parts.append(_trials_side_by_side(results, analyses))
    parts += [
        '<section id="recovery"><h2>Recovery, fault by fault</h2>',
        _recovery_table(results),
        "</section>",
        _mttr(results),
        _failures(results),
    ]
    for trial in results.trials:
        section = _trial(results, trial, by_trial.get(trial.trial))
        parts.append(_folded(trial, section) if several else section)
    parts += [_how_to_read(results), _scenario(run_dir, results), _environment(results)]
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    parts.append(
        f'<footer class="note"><p>Generated by aftershock from {_e(results.schema_)} at {stamp}. '
        "This page is self-contained: no network, no scripts.</p></footer></body></html>\n"
    )
    return "\n".join(parts)


def write_html(run_dir: Path, results: Results, analyses: Sequence[TrialAnalysis]) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path."""
    path = Path(run_dir) / REPORT_NAME
    atomic_write_text(path, render_html(Path(run_dir), results, analyses))
    return path


__all__ = ["DEFAULT_AUTOMATED_RECOVERY_BUDGET", "REPORT_NAME", "render_html", "write_html"]
