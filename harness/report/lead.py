"""The lead line of every report: the verdict WITH its numbers, for someone who reads one line.

``PASSED — recovered 0.4 s (±0.4 s) after db came back (down@api->db); users saw errors for 7.8 s;
12 of 2,900 requests failed; no data lost``. A rollback that restored the service but left data
damage opens with ``SERVICE RESTORED, DATA NOT: 182 corrupted writes remain``. The console,
summary.md, the junit suite's system-out and report.html print the same line (then the verdict
sentence of :func:`~harness.report.headline.headline` and the scenario as run). Every figure is
one of results.json, printed no more precisely than its resolution.
"""

from __future__ import annotations

from harness.report.headline import status_word
from harness.report.words import seconds_text
from harness.results import ConsistencyResult, FaultResult, Results, TrialResult
from harness.results.abort import CUT_SHORT

#: Data damage by kind, in the order a reader cares about it, with its words.
DAMAGE_WORDS = (
    ("lost", "acknowledged writes lost"),
    ("corrupted", "corrupted writes"),
    ("duplicated", "writes applied twice"),
    ("phantom", "failed writes applied anyway"),
    ("stuck", "stuck items"),
)


def count_text(n: int) -> str:
    """``2,900``: a count with thousands separators, never in e-notation."""
    return f"{n:,}"


def plus_minus(resolution: float | None) -> str:
    """`` (±0.4 s)``, rounded as the figure beside it is; empty without a resolution."""
    if resolution is None or resolution <= 0:
        return ""
    return f" (±{seconds_text(resolution, resolution)})"


def _recovery_phrase(f: FaultResult) -> str:
    if f.time_to_impact is None and f.recovered:
        work = f.business
        if work is None or work.left_range_at is None:
            return f"no impact from {f.label}"
        # the requests were fine, the work was not: say which, never a bare "no impact"
        work_res = work.resolution.backlog_recovery_time
        back = (
            f"back in range {seconds_text(work.backlog_recovery_time, work_res)}{plus_minus(work_res)}"
            " after the clear"
            if work.backlog_recovered and work.backlog_recovery_time is not None
            else "NOT back in range"
        )
        return (
            f"no impact on requests from {f.label}, but its backlog rose to {work.max_backlog} "
            f"(range 0..{work.baseline_backlog}), {back}"
        )
    if not f.recovered and f.note in CUT_SHORT:
        return f"{f.label}: {f.note}"
    if not f.recovered:
        return f"NOT recovered after {f.label}"
    res = f.resolution.recovery_time
    return f"recovered {seconds_text(f.recovery_time, res)}{plus_minus(res)} {after(f)}"


#: Faults that take a dependency away: it "comes back" when they are cleared.
_GONE = frozenset({"down", "timeout", "reset", "partition", "crash", "pause"})


def after(f: FaultResult) -> str:
    """``after db came back (down@api->db)``: the instant the recovery is counted from, in words."""
    if f.kind == "deploy":
        return f"after the rollback of {f.label} finished"
    if f.kind in _GONE and "|" not in f.target:
        what = f.target.split("->")[-1]
        return f"after {what} came back ({f.label})"
    return f"after {f.label} ended"


def _mttr_phrase(results: Results) -> list[str]:
    from harness.report.mttr import mttr_stats

    out = []
    for s in mttr_stats(results):
        n = len(s.values)
        if s.recovered < n:
            out.append(f"{n - s.recovered} of {n} trials NOT recovered after {s.fault}")
            continue
        r = s.resolution
        out.append(
            f"MTTR median {seconds_text(s.median, r)}{plus_minus(r)}, max "
            f"{seconds_text(s.max, r)} over {n} trials after {s.fault}"
        )
    return out


def damage(c: ConsistencyResult) -> list[tuple[str, int]]:
    """The data damage of a trial by kind, only the kinds that happened."""
    counts = {
        "lost": c.lost,
        "corrupted": c.corrupted,
        "duplicated": c.duplicated,
        "phantom": c.phantom,
        "stuck": c.stuck + c.pending,
    }
    return [(words, counts[kind]) for kind, words in DAMAGE_WORDS if counts[kind]]


def data_phrase(trials: list[TrialResult], stopped: bool = False) -> str:
    """``no data lost``, ``182 corrupted writes`` (summed over trials), or that data was not checked
    (``stopped``: the rehearsal was interrupted, and no audit was read before it ended)."""
    checked = [t.consistency for t in trials if t.consistency is not None]
    if not checked and stopped:
        return "data not checked (the rehearsal was stopped before the audit was read)"
    if not checked:
        return "data not checked (the target states no consistency contract)"
    total: dict[str, int] = {}
    for c in checked:
        for words, n in damage(c):
            total[words] = total.get(words, 0) + n
    if not total:
        return "no data lost"
    return ", ".join(f"{count_text(n)} {words}" for words, n in total.items())


def _worst_outage(results: Results) -> tuple[float, float | None] | None:
    """The worst trial's total outage and its resolution (the widest of its faults')."""
    worst: tuple[float, float | None] | None = None
    for t in results.trials:
        if not t.faults:
            continue
        total = sum(f.outage for f in t.faults)
        res = max((f.resolution.outage or 0.0 for f in t.faults), default=0.0) or None
        if worst is None or total > worst[0]:
            worst = (total, res)
    return worst


def outage_phrase(results: Results) -> str | None:
    """``users saw errors for 7.8 s (±0.3 s)``: the worst trial's total outage."""
    worst = _worst_outage(results)
    if worst is None:
        return None
    if worst[0] == 0:
        return "users saw no errors"
    # the SLO is broken by errors or by slowness: with no request failed it was slowness alone
    counted = _request_counts(results)
    what = "slow answers" if counted is not None and counted[1] == 0 else "errors"
    prefix = f"users saw {what} for up to " if len(results.trials) > 1 else f"users saw {what} for "
    return prefix + seconds_text(worst[0], worst[1]) + plus_minus(worst[1])


def resolutions_note(results: Results) -> str | None:
    """Which ± of the lead line is whose, when it prints a recovery's and an outage's side by side.

    They differ on purpose: a recovery time has the resolution of the instant the service
    recovered (the clear is exact, from the journal); an outage spans from the first impact to the
    recovery, so its resolution adds both edges'. None when the lead line prints only one of them."""
    if len(results.trials) > 1:
        from harness.report.mttr import mttr_stats

        recovery = [s.resolution for s in mttr_stats(results) if s.recovered == len(s.values)]
    else:
        recovery = [
            f.resolution.recovery_time
            for _, f in results.faults()
            if f.recovered and f.time_to_impact is not None
        ]
    worst = _worst_outage(results)
    rec = next((r for r in recovery if r), None)
    if rec is None or worst is None or not worst[0] or not worst[1]:
        return None
    out = worst[1]
    return (
        f"± is each figure's own resolution: recovery ±{seconds_text(rec, rec)} is that of the instant "
        f"the service recovered; outage ±{seconds_text(out, out)} adds both its edges (the first impact "
        "and the recovery), so it is wider."
    )


def requests_phrase(results: Results) -> str | None:
    """``12 of 2,900 requests failed`` over every trial (definite failures plus no clear answer)."""
    counted = _request_counts(results)
    if counted is None:
        return None
    total, failed = counted
    return f"{count_text(failed)} of {count_text(total)} requests failed"


def _request_counts(results: Results) -> tuple[int, int] | None:
    """Requests and failed requests (definite failures plus no clear answer) over every trial;
    None when no trial ran load."""
    loads = [t.load for t in results.trials if t.load is not None]
    if not loads:
        return None
    return sum(load.requests for load in loads), sum(load.fail + load.indeterminate for load in loads)


def restored_not_data(results: Results) -> str | None:
    """``SERVICE RESTORED, DATA NOT: 182 corrupted writes remain`` after a rollback that left damage."""
    for t in results.trials:
        rb = t.rollback
        data = rb.data_after_rollback if rb else None
        if rb is None or data is None or data.clean or rb.recovered_at is None:
            continue
        kinds = [
            (data.corrupted, "corrupted"),
            (data.lost, "lost"),
            (data.duplicated, "duplicated"),
        ]
        what = ", ".join(f"{count_text(n)} {k}" for n, k in kinds if n)
        return f"SERVICE RESTORED, DATA NOT: {what} writes remain"
    return None


def figures(results: Results) -> list[str]:
    """The phrases of the lead line: recovery (or MTTR), outage, failed requests, data damage."""
    out: list[str] = []
    if len(results.trials) > 1:
        out += _mttr_phrase(results)
    else:
        out += [_recovery_phrase(f) for _, f in results.faults()]
    for t in results.trials:
        rb = t.rollback
        if rb is not None:
            dur = rb.rollback_duration
            out.append(
                "rollback did not complete"
                if dur is None
                else f"rolled back in {seconds_text(dur, rb.resolution)}{plus_minus(rb.resolution)}"
            )
    for phrase in (outage_phrase(results), requests_phrase(results)):
        if phrase:
            out.append(phrase)
    data = data_phrase(results.trials, results.interrupted)
    damaged = any(t.consistency is not None and damage(t.consistency) for t in results.trials)
    return [data, *out] if damaged else [*out, data]  # data damage is the news when there is any


def run_as(results: Results) -> str:
    """`` [mode fragile; --trials 3]``: how this run differs from the scenario as written, if it does."""
    run = results.as_run
    if run is None:
        return ""
    parts = [f"mode {run.mode}"] if run.mode else []
    parts += [f"--{k.replace('_', '-')} {v}" for k, v in run.overrides.items() if k != "mode"]
    return f" [{'; '.join(parts)}]" if parts else ""


def lead(results: Results) -> str:
    """The first line of every report: the verdict word, the run's figures and its mode/overrides."""
    return _lead(results) + run_as(results)


def _lead(results: Results) -> str:
    word = status_word(results)
    if word == "ERROR" and not results.faults():
        lines = (results.error or "").strip().splitlines()
        return f"ERROR — the rehearsal could not complete: {lines[0] if lines else 'unknown error'}"
    phrases = figures(results)
    restored = restored_not_data(results)
    if word in ("INTERRUPTED", "ERROR", "INCOMPLETE", "ABORTED"):
        return f"{word} — partial figures: " + "; ".join(phrases)
    if word == "UNHEALTHY":
        return f"{word} before any fault, nothing judged — " + "; ".join(phrases)
    if restored:  # the damage is already the news: not said twice
        rest = [p for p in phrases if p != data_phrase(results.trials, results.interrupted)]
        return f"{word}: {restored} — " + "; ".join(rest)
    return f"{word} — " + "; ".join(phrases)
