"""``postmortem.md``: a blameless post-mortem draft of the rehearsal, for the team's action items.

Summary, timeline (each instant with its resolution), impact (requests failed, error share, data
damage by kind with example keys), what went well / what went wrong, and one action item per
missed expectation phrased from what was measured, owned by the scenario's ``owner:`` and pointing
at its ``runbook:``. Nothing is invented: every figure is one of results.json (a unit test checks
each number of the text against the document), and a section with nothing measured says so.
"""

from __future__ import annotations

import math
from pathlib import Path

from harness.files import atomic_write_text
from harness.report.headline import as_run_words, headline, status_word
from harness.report.lead import count_text, lead
from harness.report.words import (
    miss_sentence,
    oom_kills_text,
    plain_bound,
    remote_workers_text,
    resolution_text,
    seconds_text,
)
from harness.results import ConsistencyResult, FaultResult, Results, TrialResult, Verdict
from harness.results.abort import CUT_SHORT

POSTMORTEM_NAME = "postmortem.md"

#: Data damage kinds of a consistency result, with words and what to look at.
_DAMAGE = (
    ("lost", "acknowledged writes missing from the final state"),
    ("duplicated", "writes applied more than once"),
    ("corrupted", "writes stored with a different value than the client sent"),
    ("phantom", "writes reported as failed that were applied anyway"),
    ("stuck", "work accepted but not finished after the drain wait"),
)

#: What to do about a missed expectation: the direction the measurement points to.
_AFTER = "find what keeps the service unhealthy after the fault ends (reconnects, pools, caches, backoff)"
_DIRECTION = {
    "recovery_time": _AFTER,
    "recovered": _AFTER,
    "time_to_impact": "find why users are affected this soon (timeouts, missing fallback)",
    "outage": "shorten the time users see errors (fail fast, degrade, retry with a budget)",
    "error_rate_during_fault": (
        "lower the share of failing requests while the dependency is impaired (fallback, cache, retry budget)"
    ),
    "lost_writes": "acknowledge a write only once it is durable",
    "duplicate_writes": "make the write idempotent on its idempotency key",
    "corrupted_writes": "store exactly what the client sent, or reject the write",
    "phantom_writes": "answer a failure only when the write was not applied",
    "stuck": "resume accepted work after a restart instead of dropping it",
    "rollback_duration": "make the rollback faster (pre-pulled image, flag instead of redeploy)",
    "detection_to_rollback": "detect the bad release sooner (symptom alert on the SLO)",
}

_EXAMPLE_KEY = {
    "lost_writes": "lost",
    "duplicate_writes": "duplicated",
    "corrupted_writes": "corrupted",
    "phantom_writes": "phantom",
    "stuck": "stuck",
}


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _at(value: float | None, resolution: float | None) -> tuple[str, str]:
    if value is None:
        return "-", ""
    res = f"±{seconds_text(resolution, resolution)}" if resolution else "exact (journal)"
    return seconds_text(value, resolution if resolution else 0.001), res


def _timeline(trial: TrialResult) -> list[str]:
    rows: list[tuple[float, str, str, str]] = []

    def add(when: float | None, resolution: float | None, what: str) -> None:
        if when is not None:
            t, r = _at(when, resolution)
            rows.append((when, t, r, what))

    if trial.load is not None:
        add(trial.load.started_at, None, "load running: observation starts")
    for f in trial.faults:
        add(f.injected_at, None, f"fault injected: {f.label}")
        add(f.impact_at, f.resolution.time_to_impact, f"first impact on users ({f.label})")
        add(f.cleared_at, None, f"fault cleared: {f.label}")
        add(f.recovered_at, f.resolution.recovered_at, f"recovered: healthy and held ({f.label})")
        d, work = f.detection, f.business
        if work is not None:
            stamps = work.resolution.backlog_recovery_time  # both read off the work items' own stamps
            add(work.left_range_at, stamps, f"backlog left its baseline range ({f.label})")
            add(work.backlog_recovered_at, stamps, f"backlog back within its range and held ({f.label})")
        if d is not None:
            for a in d.alerts:
                kind = "symptom" if a.symptom else "cause"
                add(a.fired_at, None, f"alert FIRING: {a.name} ({kind}{'' if a.runbook else ', no runbook'})")
                add(a.resolved_at, None, f"alert resolved: {a.name}")
        if f.cleared_at is not None and not f.recovered:
            what = f.note if f.note in CUT_SHORT else "NOT recovered before the observation ended"
            rows.append((f.cleared_at + 1e-9, "-", "", f"{what} ({f.label})"))
    rb = trial.rollback
    if rb is not None:
        add(rb.triggered_at, None, f"rollback triggered ({rb.reason}; {rb.action})")
        add(rb.confirmed_at, None, "service confirmed at the rolled-back version")
        add(rb.recovered_at, rb.resolution, "recovered after the rollback")
    hf = trial.harness_failure
    if hf is not None:
        add(hf.at, None, f"harness failure ({hf.component}): {hf.detail}")
    if trial.load is not None:
        add(trial.load.stopped_at, None, "load stopped: observation ends")
    if not rows:
        return [
            "Nothing was measured in this trial"
            + (f": {trial.measurement_error}" if trial.measurement_error else ".")
        ]
    out = ["| time since run start | resolution | event |", "|---|---|---|"]
    out += [f"| {t} | {r} | {_cell(what)} |" for _, t, r, what in sorted(rows, key=lambda r: r[0])]
    return out


def _examples(c: ConsistencyResult, kind: str) -> str:
    keys = c.examples.get(kind, [])[:3]
    return ", ".join(f"`{k}`" for k in keys)


def _impact(trial: TrialResult) -> list[str]:
    out: list[str] = []
    load = trial.load
    if load is not None:
        out.append(
            f"- Requests: {count_text(load.requests)} completed; {count_text(load.ok)} succeeded, "
            f"{count_text(load.fail)} failed definitely, "
            f"{count_text(load.indeterminate)} got no clear answer."
        )
        remote = remote_workers_text(load)
        if remote:
            out.append(f"- {remote[0].upper() + remote[1:]}.")
    if trial.oom_kills:
        out.append(f"- {oom_kills_text(trial)}.")
    for f in trial.faults:
        share = (
            "no request completed while it was active"
            if f.error_rate_during_fault is None
            else f"{f.error_rate_during_fault * 100:.3g} % of the {count_text(f.requests_during_fault)} "
            "requests completed while it was active failed"
        )
        out.append(
            f"- {f.label}: users were affected for {seconds_text(f.outage, f.resolution.outage)} in all; "
            f"{share}."
        )
    c = trial.consistency
    if c is None:
        out.append("- Data: not checked (the target states no consistency contract, or there was no audit).")
    else:
        counts = {"lost": c.lost, "duplicated": c.duplicated, "corrupted": c.corrupted, "phantom": c.phantom}
        counts["stuck"] = c.stuck
        damaged = [(kind, words, counts[kind]) for kind, words in _DAMAGE if counts[kind]]
        if not damaged:
            out.append(f"- Data: no damage among {count_text(c.writes)} writes.")
        for kind, words, n in damaged:
            ex = _examples(c, kind)
            out.append(f"- Data: {count_text(n)} {words}" + (f" (e.g. {ex})." if ex else "."))
    return out


def _met(v: Verdict) -> str:
    """A met expectation in words: ``recovery took 0.4 s (target 5 s)``."""
    from harness.report.words import EXPECTATION_WORDS, measured_words

    where = "all trials" if v.trial == 0 else f"trial {v.trial}"
    if v.expectation == "recovered":
        did = "recovered" if v.measured else "did not recover"
        return f"- {where.capitalize()}: the service {did} from {v.fault}, as the scenario expected."
    what = EXPECTATION_WORDS.get(v.expectation, v.expectation).split(":")[0]
    subject = "" if v.fault in ("data", "rollback") else f" ({v.fault})"
    bound = plain_bound(v.target, _kind(v))
    return f"- {where.capitalize()}: {what}{subject}: {measured_words(v)}, target {bound}."


def _well(results: Results) -> list[str]:
    out = [_met(v) for v in results.verdicts if v.passed]
    for trial, f in results.faults():
        if f.recovered and f.time_to_impact is None:
            out.append(f"- Trial {trial}: users were not affected by {f.label}.")
    for t in results.trials:
        rb = t.rollback
        if rb is not None and rb.rollback_duration is not None and not rb.escalated:
            out.append(f"- Trial {t.trial}: the rollback completed within its budget.")
    return out or ["- Nothing measured can be listed here."]


def _kind(v: Verdict) -> str:
    from harness.report.words import bound_kind

    return bound_kind(v.expectation)


def _wrong(results: Results) -> list[str]:
    out = [
        f"- Trial {v.trial or 'all'}, {_cell(v.fault)}: {miss_sentence(v)}."
        for v in results.verdicts
        if not v.passed
    ]
    for trial, f in results.faults():
        if not f.recovered:
            out.append(
                f"- Trial {trial}: the service did not recover from {f.label} before the observation ended."
            )
    for t in results.trials:
        data = t.rollback.data_after_rollback if t.rollback else None
        if data is not None and not data.clean:
            out.append(
                f"- Trial {t.trial}: the rollback restored the service, not the data: "
                f"{count_text(data.lost)} lost, {count_text(data.duplicated)} duplicated, "
                f"{count_text(data.corrupted)} corrupted writes remain."
            )
        if t.harness_failure is not None:
            hf = t.harness_failure
            out.append(
                f"- Trial {t.trial}: the harness failed ({hf.component}: {hf.detail}); "
                "no verdict about the target."
            )
        if t.measurement_error:
            out.append(f"- Trial {t.trial}: it could not be measured ({t.measurement_error}).")
    if results.interrupted:
        out.append("- The rehearsal was interrupted before it finished: the figures cover what was measured.")
    if results.error:
        out.append(f"- The run recorded an error: {_cell(results.error)}")
    return out or ["- Nothing measured went wrong."]


def _faults_of(results: Results, trial: int) -> list[FaultResult]:
    return [f for t in results.trials if t.trial == trial or trial == 0 for f in t.faults]


def _count(v: Verdict) -> str:
    m = v.measured
    return count_text(m) if isinstance(m, int) and not isinstance(m, bool) else v.measured_text


def _action_measured(results: Results, v: Verdict, trials: list[int]) -> str:
    """What the measurement shows for a missed expectation, in the words of the miss."""
    which = (
        "all trials"
        if trials == [0]
        else ("trial " if len(trials) == 1 else "trials ") + ", ".join(str(n) for n in trials)
    )
    example_kind = _EXAMPLE_KEY.get(v.expectation)
    if example_kind is None:
        where = "" if v.fault in ("data", "rollback") else f"{v.fault}, "
        return f"{miss_sentence(v)} ({where}{which})"
    during = ", ".join(sorted({f.label for f in _faults_of(results, v.trial)})) or "the load alone"
    trial = next((t for t in results.trials if t.trial == v.trial), None)
    c = trial.consistency if trial else None
    ex = _examples(c, example_kind) if c else ""
    words = dict(_DAMAGE).get(example_kind, example_kind)
    return (
        f"{_count(v)} {words} under {during} ({which})"
        + (f", e.g. {ex}" if ex else "")
        + f"; the target was {plain_bound(v.target, 'count')}"
    )


def _actions(results: Results) -> list[str]:
    """One action item per missed expectation (per fault): the trials that missed it are listed."""
    run = results.as_run
    owner = (run.owner if run else None) or "unassigned (add `owner:` to the scenario)"
    grouped: dict[tuple[str, str], list[Verdict]] = {}
    for v in results.verdicts:
        if not v.passed:
            grouped.setdefault((v.expectation, v.fault), []).append(v)
    if not grouped:
        return ["No expectation was missed: no action item."]
    out = ["| # | action | what was measured | owner |", "|---|---|---|---|"]
    for i, misses in enumerate(grouped.values(), 1):
        worst = min(misses, key=lambda v: -math.inf if v.margin is None else v.margin)
        direction = _DIRECTION.get(worst.expectation.split(".")[0], "look at what the measurement shows")
        measured = _action_measured(results, worst, [v.trial for v in misses])
        action = direction[:1].upper() + direction[1:]
        out.append(f"| {i} | {_cell(action)} | {_cell(measured)} | {_cell(owner)} |")
    return out


def _runbook(results: Results) -> str:
    run = results.as_run
    book = run.runbook if run else None
    return f"[{book}]({book})" if book else "none named (add `runbook:` to the scenario)"


def _detection(results: Results) -> list[str]:
    """Time to detect by the target's own alerting, per fault that had monitoring."""
    lines = []
    for t in results.trials:
        for f in t.faults:
            d = f.detection
            if d is None:
                continue
            where = f"trial {t.trial}, " if len(results.trials) > 1 else ""
            if d.time_to_detect is None:
                lines.append(f"Detection ({where}{f.label}): no alert fired.")
                continue
            res = d.resolution
            tail = ""
            if d.time_to_resolve is not None:
                resolved = seconds_text(d.time_to_resolve, res.time_to_resolve)
                tail = f"; resolved {resolved} {resolution_text(res.time_to_resolve)} after recovery"
            symptom = "a symptom alert fired" if d.symptom else "only cause alerts fired"
            lines.append(
                f"Detection ({where}{f.label}): first alert "
                f"{seconds_text(d.time_to_detect, res.time_to_detect)} "
                f"{resolution_text(res.time_to_detect)} after the first impact; {symptom}{tail}."
            )
    return lines or ["Detection: the scenario names no monitoring, so no detection instant was measured."]


def render_postmortem(results: Results) -> str:
    """The Markdown text of the post-mortem draft (what :func:`write_postmortem` writes)."""
    run = results.as_run
    owner = (run.owner if run else None) or "unassigned (add `owner:` to the scenario)"
    out = [
        f"# Post-mortem draft: {results.scenario} ({status_word(results)})",
        "",
        "_A blameless draft written by aftershock from the rehearsal's measurements (results.json of run "
        f"`{results.run_id}`). Every figure is measured; edit the words, keep the figures._",
        "",
        f"- Owner: {owner}",
        f"- Runbook: {_runbook(results)}",
        f"- As run: {as_run_words(results)}",
        "",
        "## Summary",
        "",
        lead(results),
        "",
        headline(results),
        "",
    ]
    if results.description:
        out += [results.description.strip(), ""]
    for t in results.trials:
        title = "## Timeline" if len(results.trials) == 1 else f"## Timeline, trial {t.trial}"
        out += [title, "", *_timeline(t), ""]
    if not results.trials:
        out += ["## Timeline", "", "No trial started.", ""]
    else:
        out += [*_detection(results), ""]
    out += ["## Impact", ""]
    for t in results.trials:
        if len(results.trials) > 1:
            out.append(f"Trial {t.trial}:")
        out += _impact(t)
        out.append("")
    if not results.trials:
        out += ["Nothing was measured.", ""]
    out += ["## What went well", "", *_well(results), ""]
    out += ["## What went wrong", "", *_wrong(results), ""]
    out += ["## Action items", "", *_actions(results), ""]
    return "\n".join(out)


def write_postmortem(path: Path, results: Results) -> Path:
    """Write ``postmortem.md`` atomically and return its path."""
    atomic_write_text(path, render_postmortem(results))
    return path
