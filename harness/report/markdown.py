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
    bound_kind,
    consistency_rows,
    escalation_text,
    fault_rows,
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

SUMMARY_NAME = "summary.md"


def _cell(value: Any) -> str:
    return str("" if value is None else value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def render_summary(results: dict[str, Any]) -> str:
    """The Markdown text (what :func:`write_summary` writes)."""
    word = status_word(results)
    line = headline(results)
    rest = line.split(": ", 1)[1] if ": " in line else ""
    trials = results.get("trials") or []
    out = [
        f"### aftershock: {_cell(results.get('scenario'))} — **{word}**",
        "",
        f"**{word}**" + (f": {rest}" if rest else ""),
        "",
        f"Run `{results.get('run_id')}`, {len(trials)} trial{'s' if len(trials) != 1 else ''}, "
        f"target {results.get('target') or 'unknown'}, backend {results.get('backend')}, "
        f"seed {results.get('seed')}.",
        "",
    ]
    escalate = escalation_text(results)
    if escalate:
        out += [f"**ESCALATE**: {_cell(escalate)}", ""]
    verdicts = results.get("verdicts") or []
    if verdicts:
        rows = [
            [
                "✅ pass" if v.get("passed") else "❌ **FAIL**",
                str(v.get("expectation")),
                "all" if v.get("trial") == 0 else str(v.get("trial")),
                str(v.get("fault")),
                plain_bound(str(v.get("target", "")), bound_kind(str(v.get("expectation")))),
                measured_words(v),
                margin_text(v),
            ]
            for v in verdicts
        ]
        out += _table(["result", "expectation", "trial", "fault", "target", "measured", "margin"], rows)
    else:
        out.append(no_verdict_sentence(results))
    faults = fault_rows(results)
    if faults:
        out += ["", "**Recovery** (seconds since the run started; ± is each figure's resolution)", ""]
        rows = []
        for trial, f in faults:
            res = f.get("resolution") or {}
            tti = f.get("time_to_impact")
            rows.append(
                [
                    str(trial),
                    str(f.get("label")),
                    f"{seconds_text(f.get('injected_at'), 0.01)} → {seconds_text(f.get('cleared_at'), 0.01)}",
                    "never" if tti is None else figure_text(tti, res.get("time_to_impact")),
                    "not recovered"
                    if not f.get("recovered")
                    else figure_text(f.get("recovery_time"), res.get("recovery_time")),
                    figure_text(f.get("outage"), res.get("outage")),
                ]
            )
        out += _table(["trial", "fault", "fault active", "impact after", "recovery (MTTR)", "outage"], rows)
    if len(trials) > 1:
        stats = mttr_stats(results)
        if stats:
            out += ["", "**MTTR over trials**", ""]
            out += _table(
                ["fault", "median", "p95", "max", "every trial"],
                [
                    [
                        s.fault,
                        mttr_text(s.median, s.resolution),
                        mttr_text(s.p95, s.resolution),
                        mttr_text(s.max, s.resolution),
                        ", ".join(
                            "not recovered" if v is None else seconds_text(v, r) for _, v, r in s.values
                        ),
                    ]
                    for s in stats
                ],
            )
    for t in trials:
        rb = t.get("rollback")
        if isinstance(rb, dict):
            res = rb.get("resolution")
            took = (
                figure_text(rb["rollback_duration"], res)
                if rb.get("rollback_duration") is not None
                else f"did not complete ({rb.get('note') or 'not measured'})"
            )
            out += [
                "",
                f"**Rollback, trial {t.get('trial')}**: {rb.get('action')} ({rb.get('reason')}); "
                f"took {took}; first impact to rollback {figure_text(rb.get('detection_to_rollback'), res)}"
                + ("; **needs a human**" if rb.get("escalated") else ""),
            ]
        elif "rollback" in t:
            out += ["", f"**Rollback, trial {t.get('trial')}**: none happened"]
    data = []
    for t in trials:  # one line per trial: the data problems only; report.html has the full table
        rows_c = consistency_rows(t.get("consistency"))
        if rows_c:
            parts = [
                f"{k} {c}" + (f" (e.g. {', '.join(ex[:2])})" if ex else "")
                for k, c, ex, _ in rows_c
                if k in CONSISTENCY_PROBLEMS or k == "writes"
            ]
            data.append(f"- trial {t.get('trial')}: " + "; ".join(parts))
    if data:
        out += ["", "**Data consistency**", "", *data]
    out.append("")
    return "\n".join(out)


def write_summary(path: Path, results: dict[str, Any]) -> Path:
    """Write ``summary.md`` atomically and return its path."""
    path = Path(path)
    atomic_write_text(path, render_summary(results))
    return path


__all__ = ["SUMMARY_NAME", "render_summary", "write_summary"]
