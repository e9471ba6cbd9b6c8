"""``summary.md``: the verdict in a few lines, for a CI job summary or a pull-request comment.

Short on purpose (headline, verdict table, recovery figures with their resolution, MTTR over
trials when there are several) and link-free: it is pasted where relative links break and
where a stray URL would be noise. GitHub-flavoured Markdown tables; a ``|`` inside a cell (a
partition's ``api|db``) is escaped so it cannot split the table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.files import atomic_write_text
from harness.report import (
    CONSISTENCY_PROBLEMS,
    as_run_words,
    bound_kind,
    consistency_rows,
    escalation_text,
    figure_text,
    headline,
    margin_text,
    measured_words,
    mttr_stats,
    mttr_text,
    no_verdict_sentence,
    plain_bound,
    seconds_text,
    status_word,
)
from harness.report.evidence import bracket_text, fidelity_text
from harness.report.lead import lead
from harness.report.words import oom_kills_text, remote_workers_text
from harness.results import Results
from harness.results.abort import recovery_word

SUMMARY_NAME = "summary.md"


def _cell(value: Any) -> str:
    return str("" if value is None else value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_summary(results: Results) -> str:
    """The Markdown text (what :func:`write_summary` writes)."""
    word = status_word(results)
    line = headline(results)
    rest = line.split(": ", 1)[1] if ": " in line else ""
    trials = results.trials
    out = [
        f"### aftershock: {_cell(results.scenario)} — **{word}**",
        "",
        f"**{_cell(lead(results))}**",
        "",
        f"{word}" + (f": {rest}" if rest else ""),
        "",
        f"Run `{results.run_id}`, {len(trials)} trial{'s' if len(trials) != 1 else ''}, "
        f"target {results.target or 'unknown'}, backend {results.backend}, "
        f"seed {results.seed}.",
        "",
        f"As run: {_cell(as_run_words(results))}.",
        "",
    ]
    for t in results.trials:
        remote = remote_workers_text(t.load) if t.load is not None else ""
        if remote:
            out += [f"Trial {t.trial}: {_cell(remote)}.", ""]
        if t.oom_kills:
            out += [f"Trial {t.trial}: {_cell(oom_kills_text(t))}.", ""]
    escalate = escalation_text(results)
    if escalate:
        out += [f"**ESCALATE**: {_cell(escalate)}", ""]
    out += [f"**WARNING**: {_cell(w)}" for w in results.warnings] + ([""] if results.warnings else [])
    out += _verdict_lines(results)
    out += _recovery_lines(results)
    if len(trials) > 1:
        out += _mttr_lines(results)
    out += _rollback_lines(results)
    out += _failure_lines(results)
    out += _data_lines(results)
    out.append("")
    return "\n".join(out)


def _verdict_lines(results: Results) -> list[str]:
    if not results.verdicts:
        return [no_verdict_sentence(results)]
    rows = [
        [
            "✅ pass" if v.passed else "⏹ stopped" if not v.observed else "❌ **FAIL**",
            v.expectation,
            "all" if v.trial == 0 else str(v.trial),
            v.fault,
            plain_bound(v.target, bound_kind(v.expectation)),
            measured_words(v),
            margin_text(v),
        ]
        for v in results.verdicts
    ]
    return _table(["result", "expectation", "trial", "fault", "target", "measured", "margin"], rows)


def _recovery_lines(results: Results) -> list[str]:
    faults = results.faults()
    if not faults:
        return []
    out = [
        "",
        "**Recovery** (seconds since the run started; ± is each figure's own resolution: an outage's adds "
        "both its edges, so it is wider than the recovery's)",
        "",
    ]
    rows = []
    for trial, f in faults:
        res = f.resolution
        tti = f.time_to_impact
        rows.append(
            [
                str(trial),
                f.label,
                f"{seconds_text(f.injected_at, 0.01)} → {seconds_text(f.cleared_at, 0.01)}",
                "never" if tti is None else figure_text(tti, res.time_to_impact),
                recovery_word(f.note) if not f.recovered else figure_text(f.recovery_time, res.recovery_time),
                figure_text(f.outage, res.outage),
                bracket_text(f),
                fidelity_text(f),
            ]
        )
    header = ["trial", "fault", "fault active", "impact after", "recovery (MTTR)", "outage"]
    return out + _table([*header, "recovery (bracket)", "observed effect"], rows)


def _code(text: str) -> str:
    """Text for an inline code span: no backtick can close it early."""
    return _cell(text).replace("`", "'")


def _failure_lines(results: Results) -> list[str]:
    from harness.report.failures import FAILURE_HEADER, failure_rows, measured, top_errors

    if not measured(results):
        return []
    rows = failure_rows(results)
    if not rows:
        return ["", "**Failed requests**: none."]
    out = ["", "**Failed requests** by operation and status (times in seconds since the run started)", ""]
    out += _table(FAILURE_HEADER, rows)
    errors = top_errors(results)
    if errors:
        out += ["", "Most common error texts:", ""]
        out += [f"- trial {n}: {count:,} × `{_code(text)}`" for n, text, count in errors]
    return out


def _mttr_lines(results: Results) -> list[str]:
    stats = mttr_stats(results)
    if not stats:
        return []
    rows = [
        [
            s.fault,
            mttr_text(s.median, s.resolution),
            mttr_text(s.p95, s.resolution),
            mttr_text(s.max, s.resolution),
            ", ".join("not recovered" if v is None else seconds_text(v, r) for _, v, r in s.values),
        ]
        for s in stats
    ]
    return ["", "**MTTR over trials**", "", *_table(["fault", "median", "p95", "max", "every trial"], rows)]


def _rollback_lines(results: Results) -> list[str]:
    out: list[str] = []
    planned = results.as_run is not None and results.as_run.rollback is not None
    for t in results.trials:
        rb = t.rollback
        if rb is not None:
            res = rb.resolution
            took = (
                figure_text(rb.rollback_duration, res)
                if rb.rollback_duration is not None
                else f"did not complete ({rb.note or 'not measured'})"
            )
            out += [
                "",
                f"**Rollback, trial {t.trial}**: {rb.action} ({rb.reason}); "
                f"took {took}; first impact to rollback {figure_text(rb.detection_to_rollback, res)}"
                + ("; **needs a human**" if rb.escalated else ""),
            ]
        elif planned:
            out += ["", f"**Rollback, trial {t.trial}**: none happened"]
    return out


def _data_lines(results: Results) -> list[str]:
    data = []
    for t in results.trials:  # one line per trial: the data problems only; report.html has the full table
        rows_c = consistency_rows(t.consistency)
        if rows_c:
            parts = [
                f"{k} {c}" + (f" (e.g. {', '.join(ex[:2])})" if ex else "")
                for k, c, ex, _ in rows_c
                if k in CONSISTENCY_PROBLEMS or k == "writes"
            ]
            data.append(f"- trial {t.trial}: " + "; ".join(parts))
    return ["", "**Data consistency**", "", *data] if data else []


def write_summary(path: Path, results: Results) -> Path:
    """Write ``summary.md`` atomically and return its path."""
    path = Path(path)
    atomic_write_text(path, render_summary(results))
    return path


__all__ = ["SUMMARY_NAME", "render_summary", "write_summary"]
