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

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import atomic_write_text
from harness.report import (
    EXPECTATION_WORDS,
    as_run_words,
    bound_kind,
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
from harness.report.html_parts import esc, img, table, td
from harness.report.html_trial import folded, trial_section, trials_side_by_side
from harness.report.lead import lead, resolutions_note
from harness.report.style import REPORT_CSS as _CSS
from harness.results import Results, Verdict
from harness.results.abort import CUT_SHORT

if TYPE_CHECKING:
    from harness.measure.trial_analysis import TrialAnalysis

REPORT_NAME = "report.html"
#: DESIGN.md, "escalation": without a stated recovery target, automation gets three minutes.
DEFAULT_AUTOMATED_RECOVERY_BUDGET = 180.0


# -- sections -----------------------------------------------------------------------------------


def _header(results: Results) -> str:
    word = status_word(results)
    line = headline(results)
    rest = line.split(": ", 1)[1] if ": " in line else line
    trials = len(results.trials)
    facts = [
        f"scenario <strong>{esc(results.scenario)}</strong>",
        f"target {esc(results.target or 'unknown')}",
        f"{trials} trial{'s' if trials != 1 else ''}",
        f"run {esc(results.run_id)}",
        f"started {esc(results.started_at or 'unknown')}",
    ]
    desc = results.description
    misses = [v for v in results.verdicts if not v.passed]
    listed = ""
    if len(misses) > 1:  # the headline names the first; an operations lead wants all of them

        def which(v: Verdict) -> str:
            return "all trials" if v.trial == 0 else f"trial {v.trial}"

        items = "".join(f"<li>{esc(miss_sentence(v))} ({esc(which(v))}, {esc(v.fault)})</li>" for v in misses)
        listed = f"<p>Every expectation missed:</p><ul>{items}</ul>"
    note = resolutions_note(results)
    escalate = escalation_text(results)
    if escalate:
        listed += f'<p class="escalate">ESCALATE: {esc(escalate)}</p>'
    listed += "".join(f'<p class="escalate">WARNING: {esc(w)}</p>' for w in results.warnings)
    return (
        f'<header class="headline {word}">'
        f'<h1 class="lead">{_lead_html(results)}</h1>'
        + (f'<p class="note resolutions">{esc(note)}</p>' if note else "")
        + f'<p class="why">{esc(rest[:1].upper() + rest[1:])}</p>{listed}'
        f'<p class="meta">{" · ".join(facts)}</p>'
        f'<p class="meta">as run: {esc(as_run_words(results))}</p>'
        + (f'<p class="meta">{esc(desc)}</p>' if desc else "")
        + "</header>"
    )


def _lead_html(results: Results) -> str:
    """The lead line with its verdict word set as the badge (the word is said once, not twice)."""
    text = lead(results)
    word = status_word(results)
    if text.startswith(word):
        return f'<span class="status">{esc(word)}</span>{esc(text[len(word) :])}'
    return esc(text)


def _verdicts(results: Results) -> str:
    verdicts = results.verdicts
    out = ['<section id="verdicts"><h2>Expectations</h2>']
    if not verdicts:
        out.append(f"<p>{esc(no_verdict_sentence(results))}</p>")
        return "".join(out) + "</section>"
    rows = []
    for v in verdicts:
        ok = v.passed
        measured = measured_words(v)
        status = ("✔ PASS", "pass") if ok else ("✘ FAIL", "fail")
        if not ok and not v.observed:  # the user stopped the run before it was measured
            status = ("■ STOPPED", "stopped")
        rows.append(
            [
                td(*status),
                td(v.expectation, title=EXPECTATION_WORDS.get(v.expectation, "")),
                td("all" if v.trial == 0 else str(v.trial), "num"),
                td(v.fault, "label"),
                td(
                    plain_bound(v.target, bound_kind(v.expectation)),
                    title=f"as stated in the scenario: {v.target}",
                ),
                td(measured, "num"),
                td(margin_text(v), "num"),
            ]
        )
    out.append(
        table(["result", "expectation", "trial", "fault", "target", "measured", "margin"], rows, raw=True)
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
        if not f.recovered and f.note in CUT_SHORT:
            word = CUT_SHORT[f.note]
            recovery, human = word, f"no: not observed (the rehearsal was {word})"
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
                td(str(trial), "num"),
                f'<td class="label">{esc(f.label)}'
                + (f'<br><span class="wrap note">{esc(f.note)}</span>' if f.note else "")
                + "</td>",
                td(seconds_text(f.injected_at, 0.001), "num"),
                td(seconds_text(f.cleared_at, 0.001), "num"),
                td(impact, "num"),
                td(recovery, "num" if f.recovered else "fail"),
                td(figure_text(f.outage, res.outage), "num"),
                td("-" if err is None else f"{err * 100:.3g} %", "num"),
                td(bracket_text(f), "num"),
                td(
                    fidelity_text(f),
                    "fail" if f.fidelity is not None and f.fidelity.no_effect else "",
                    "" if f.fidelity is None else f.fidelity.note,
                ),
                td(human),
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
    return table(header, rows, raw=True) + (
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
    out.append(table(["fault", "trials", "median", "p95", "max", "resolution", "every trial"], rows))
    if len(results.trials) > 1:
        from harness.report.plots import mttr_png

        png = mttr_png(stats, _recovery_target(results))
        out.append(
            f"<figure>{img(png, 'recovery time of every trial, one dot per trial, median and p95 marked')}"
            "<figcaption>One dot per trial; the tall bar is the median, the short bar the 95th "
            "percentile, the dashed line the target. A cross at the right edge is a trial that never "
            "recovered.</figcaption></figure>"
        )
    return "".join(out) + "</section>"


def _how_to_read(results: Results) -> str:
    slo = results.slo
    return (
        '<section id="definitions"><h2>How to read this</h2>'
        f"<p>{esc(slo_sentence(slo))}</p><dl class='defs'>"
        "<dt>users affected after (time to impact)</dt><dd>from the moment the fault was injected until "
        "the service first missed its target.</dd>"
        "<dt>recovered after the fault ended (recovery time, MTTR)</dt><dd>from the moment the fault was "
        "removed until the service met its target again and kept meeting it for the hold time.</dd>"
        "<dt>unhealthy time (outage)</dt><dd>total time the service missed its target between the fault "
        "starting and the recovery.</dd>"
        "<dt>resolution (±)</dt><dd>the uncertainty of a figure: the evaluation step plus the largest gap "
        "between completed requests around the instant. Figures are never printed more precisely. Each "
        "figure has its own: a recovery time has that of the instant the service recovered (the end of "
        "the fault is exact, from the journal); the unhealthy time (outage) adds both its edges, the "
        "first impact and the recovery, so its ± is wider than the recovery's beside it.</dd>"
        "<dt>requests</dt><dd>a failed (or too slow) request counts when it was sent, a good one when it "
        "ended: each where it tells the truth, so a slow failure cannot move the recovery late. A request "
        "with no answer counts against the service, and a stretch with no request at all is an outage, "
        "not a quiet moment.</dd>"
        "<dt>recovered after (request bracket)</dt><dd>the recovery located by the requests themselves: "
        "after the start of the last failing request, no later than the end of the first good one; ± is "
        "half that bracket. A bracket centred before the fault ended (slow requests straddling the "
        "end) reads 0.0 s with its ±: recovery is counted from the end of the fault, so it cannot be "
        "negative; results.json keeps the measured figure.</dd>"
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
        f"<p>From <code>{esc(results.scenario_file or 'unknown file')}</code>; the run used "
        f"seed {esc(results.seed)} and backend {esc(results.backend)} (command-line "
        f"overrides included).</p><p>As run: {esc(as_run_words(results))}.</p>"
        f"<pre>{esc(text)}</pre></section>"
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
        + table(["what", "value"], [[k, "" if v is None else str(v)] for k, v in rows])
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
    out.append(table(FAILURE_HEADER, rows))
    errors = top_errors(results)
    if errors:
        items = "".join(
            f"<li>trial {n}: {count:,} × <code>{esc(text)}</code></li>" for n, text, count in errors
        )
        out.append(f"<p>Most common error texts:</p><ul>{items}</ul>")
    return "".join(out) + "</section>"


def render_html(run_dir: Path, results: Results, analyses: Sequence[TrialAnalysis]) -> str:
    """The whole page as a string (what :func:`write_html` writes)."""
    by_trial = {a.trial: a for a in analyses}
    word = status_word(results)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(word)}: {esc(results.scenario)} — aftershock {esc(results.run_id)}</title>",
        f"<style>{_CSS}</style></head><body>",
        _header(results),
        _verdicts(results),
    ]
    several = len(results.trials) > 1
    if several:  # the trials at a glance, before the tables
        parts.append(trials_side_by_side(results, analyses))
    parts += [
        '<section id="recovery"><h2>Recovery, fault by fault</h2>',
        _recovery_table(results),
        "</section>",
        _mttr(results),
        _failures(results),
    ]
    for trial in results.trials:
        section = trial_section(results, trial, by_trial.get(trial.trial))
        parts.append(folded(trial, section) if several else section)
    parts += [_how_to_read(results), _scenario(run_dir, results), _environment(results)]
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    parts.append(
        f'<footer class="note"><p>Generated by aftershock from {esc(results.schema_)} at {stamp}. '
        "This page is self-contained: no network, no scripts.</p></footer></body></html>\n"
    )
    return "\n".join(parts)


def write_html(run_dir: Path, results: Results, analyses: Sequence[TrialAnalysis]) -> Path:
    """Write ``run_dir/report.html`` atomically and return its path."""
    path = Path(run_dir) / REPORT_NAME
    atomic_write_text(path, render_html(Path(run_dir), results, analyses))
    return path


__all__ = ["DEFAULT_AUTOMATED_RECOVERY_BUDGET", "REPORT_NAME", "render_html", "write_html"]
