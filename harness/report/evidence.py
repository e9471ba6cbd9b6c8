"""Words for what the requests themselves say: the transition bracket, fault fidelity, the baseline.

Shared by every reporter (console, summary.md, report.html) so they print the same sentences.
"""

from __future__ import annotations

from harness.report.words import figure_text
from harness.results import FaultResult, Results, TrialResult


def bracket_text(f: FaultResult) -> str:
    """``2.98 s ±0.012 s``: the MTTR from the recovery bracket, or ``-`` without one.

    A bracket whose middle lies before the clear (slow requests straddling it) reads ``0.0 s``
    with its half-width: recovery is counted from the clear, so it cannot be negative (DESIGN.md:
    recovered_at >= cleared_at), and ``0 ± half-width`` still holds every instant the bracket
    allows. results.json keeps the measured (negative) figure."""
    b = f.recovery_bracket
    if b is None or f.recovery_time_bracketed is None:
        return "-"
    text = figure_text(max(0.0, f.recovery_time_bracketed), b.half_width)
    return text + (f" ({b.contradicting} contradicting)" if b.contradicting else "")


def fidelity_text(f: FaultResult) -> str:
    """The fault's observed effect in a few words: ``NO EFFECT OBSERVED``, ``+1024 ms (300 asked)``."""
    fid = f.fidelity
    if fid is None or fid.effect_observed is None:
        return "-" if fid is None else "not judged"
    if fid.no_effect:
        return "NO EFFECT OBSERVED"
    work = f.business
    if fid.note.startswith("effect observed on the work") and work is not None:
        return f"backlog {work.baseline_backlog} -> {work.max_backlog}"  # no user request crosses it
    parts = []
    if fid.latency_shift is not None and fid.asked_latency is not None:
        parts.append(f"{fid.latency_shift * 1000:+.0f} ms ({fid.asked_latency * 1000:.0f} asked)")
    elif fid.latency_shift is not None and abs(fid.latency_shift) >= 0.005:
        parts.append(f"{fid.latency_shift * 1000:+.0f} ms")
    if fid.error_share_during is not None and fid.error_share_before is not None:
        parts.append(f"failing {fid.error_share_before:.0%} -> {fid.error_share_during:.0%}")
    return ", ".join(parts)


def unhealthy_trials(results: Results) -> list[TrialResult]:
    """Trials whose target never met its SLO before the first fault."""
    return [t for t in results.trials if t.unhealthy_before_fault]


def unhealthy_sentence(results: Results) -> str:
    """The headline for a run with a trial unhealthy before any fault."""
    bad = unhealthy_trials(results)
    which = ", ".join(str(t.trial) for t in bad)
    required = bad[0].baseline.required if bad and bad[0].baseline is not None else 0.0
    return (
        f"UNHEALTHY: the target did not meet its SLO for {required:g} s before the first fault "
        f"(trial{'s' if len(bad) > 1 else ''} {which}); no recovery verdict was computed against a "
        "system that was never healthy"
    )
