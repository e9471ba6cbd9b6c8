"""The headline of a run: the one word, the one sentence, and what was run.

Every report opens with these (console, summary.md, junit.xml, report.html), so a CI badge, a PR
comment and the HTML page say the same thing, including the scenario as actually run (mode,
trials, seed, backend, load workers, overrides).
"""

from __future__ import annotations

from harness.report.words import miss_sentence
from harness.results import AsRun, Results, Slo


def escalation_text(results: Results) -> str | None:
    """``needs a human: ...`` when the run's recovery exceeded its automated budget, else None.

    DESIGN.md's escalation: a recovery (or a rollback) slower than the automated-recovery budget
    (3 minutes unless the scenario says otherwise) is labelled as needing a human.
    """
    esc = results.escalation
    if esc is None or not esc.needs_human:
        return None
    reasons = "; ".join(esc.reasons) or "see the recovery figures"
    return f"needs a human (automated-recovery budget {esc.budget:g} s): {reasons}"


def status_word(results: Results) -> str:
    """PASSED, FAILED, UNHEALTHY, ERROR, ABORTED, INTERRUPTED or INCOMPLETE: the one word a CI badge shows.

    UNHEALTHY: a trial's target never met its SLO before the first fault (exit code 5).
    """
    if results.interrupted:
        return "INTERRUPTED"
    if results.error or any(t.harness_failure is not None for t in results.trials):
        return "ERROR"
    if results.aborted is not None:
        return "ABORTED"
    if not results.complete:
        return "INCOMPLETE"
    if any(t.unhealthy_before_fault for t in results.trials):
        return "UNHEALTHY"
    return "PASSED" if results.passed else "FAILED"


def headline(results: Results) -> str:
    """The verdict in one line of plain words, for someone who reads nothing else.

    An interrupted, errored or incomplete run says so before anything it measured: its
    figures are partial, and a "pass" on part of a rehearsal is not a pass.
    """
    word = status_word(results)
    verdicts = results.verdicts
    misses = [v for v in verdicts if not v.passed]
    if word == "INTERRUPTED":
        return (
            "INTERRUPTED: the rehearsal was stopped before it finished; the figures cover what was measured"
        )
    if word == "ERROR":
        failed = next((t for t in results.trials if t.harness_failure is not None), None)
        if failed is not None and failed.harness_failure is not None:
            hf = failed.harness_failure
            when = "" if hf.at is None else f" at t={hf.at:.2f}s"
            return (
                f"ERROR: harness failure, no verdict about the target: {hf.component} failed{when}"
                f" in trial {failed.trial} ({hf.detail.splitlines()[0] if hf.detail else 'no detail'})"
            )
        lines = (results.error or "").strip().splitlines()
        return "ERROR: the rehearsal could not complete: " + (lines[0] if lines else "unknown error")
    if word == "ABORTED" and results.aborted is not None:
        ab = results.aborted
        return (
            f"ABORTED at t={ab.at:.2f}s (trial {ab.trial}): {ab.reason}; every fault was cleared and"
            " the load stopped; the figures cover what was measured"
        )
    if word == "INCOMPLETE":
        return (
            "INCOMPLETE: the run did not record its end or did not finish every trial; "
            "the figures cover what was measured"
        )
    if word == "UNHEALTHY":
        from harness.report.evidence import unhealthy_sentence

        return unhealthy_sentence(results)
    if word == "PASSED":
        if not verdicts:
            return "PASSED: no expectation was stated; the figures were measured, nothing was asserted"
        return "PASSED: every expectation met"
    if not misses:
        return "FAILED: see the verdict table"
    first = misses[0]
    text = f"FAILED: {miss_sentence(first)} (trial {first.trial}, {first.fault})"
    if len(misses) > 1:
        text += f"; {len(misses) - 1} more expectation{'s' if len(misses) > 2 else ''} missed"
    return text


def as_run_words(results: Results) -> str:
    """``backend process, mode fragile, 3 trials, seed 7, 2 load workers (--mode, --trials)``.

    The scenario as actually run, for every headline: a ``--mode fragile`` run must never read
    like a run of the scenario as written.
    """
    run: AsRun | None = results.as_run
    if run is None:  # results written before the scenario as run was recorded
        return f"backend {results.backend}, seed {results.seed}"
    parts = [f"backend {run.backend}", f"mode {run.mode or 'default'}"]
    parts.append(f"{run.trials} trial{'s' if run.trials != 1 else ''}")
    parts.append(f"seed {run.seed}")
    parts.append(f"{run.load_workers} load worker{'s' if run.load_workers != 1 else ''}")
    if run.remote_workers:
        parts[-1] += f" + {run.remote_workers} on other machines"
    text = ", ".join(parts)
    if run.overrides:
        given = ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in run.overrides.items())
        text += f" (command line: {given})"
    if run.env:
        text += "; environment overrides: " + "; ".join(
            f"{service}: {', '.join(sorted(values))}" for service, values in sorted(run.env.items())
        )
    return text


def duration_words(seconds: float | None) -> str:
    """A stated duration in words (``0.25 s``, ``5 s``)."""
    return "" if seconds is None else f"{seconds:g} s"


def slo_sentence(slo: Slo) -> str:
    """What "healthy" and "recovered" meant in this run, in one sentence."""
    parts = [f"at least {slo.success_rate * 100:g} % of requests succeed"]
    for bound, name in ((slo.p95_latency, "95 %"), (slo.p99_latency, "99 %")):
        if bound:
            parts.append(f"{name} of requests answer within {duration_words(bound)}")
    return (
        f"Healthy means that in every {duration_words(slo.window)} window {' and '.join(parts)} "
        f"(judged every {duration_words(slo.step)}); "
        f"recovered means healthy without a break for {duration_words(slo.hold)}."
    )


def no_verdict_sentence(results: Results) -> str:
    """Why the verdict table is empty: the run stopped, nothing was asked, or nothing could be judged."""
    failed = [t.trial for t in results.trials if t.harness_failure is not None]
    if failed:
        which = ", ".join(str(n) for n in failed)
        return f"No verdict about the target: the harness itself failed during trial {which}."
    if results.interrupted:
        return "No expectation was judged: the rehearsal was interrupted before it measured a fault."
    if results.error:
        first = (results.error.strip().splitlines() or ["unknown error"])[0]
        return f"No expectation was judged: the rehearsal stopped on an error ({first})."
    if results.expect.stated():
        return "No expectation could be judged: the rehearsal did not measure any fault."
    return "No expectation was stated: the figures were measured, nothing was asserted."
