"""Plain words for figures, bounds and verdicts: what every report must say identically.

A duration carries no more decimals than its resolution supports; a bound reads as a person says
it; a missed expectation is one sentence. The CI summary, the JUnit failure and the HTML page use
these, so they never disagree.
"""

from __future__ import annotations

import math
import re

from harness.results import LoadResult, TrialResult, Verdict
from harness.scenario.durations import format_seconds


#: Expectations whose values are durations in seconds (the others are a share or a yes/no).
def _duration_expectations() -> frozenset[str]:
    """The expectations whose figures are durations: every one the scenario bounds by a duration
    (derived, so a new one is printed in seconds without being listed here)."""
    import typing

    from harness.scenario.fields import DurationBound
    from harness.scenario.models import Expectations

    return frozenset(
        name
        for name, field in Expectations.model_fields.items()
        if DurationBound in typing.get_args(field.annotation)
    )


DURATION_EXPECTATIONS = _duration_expectations()

_BOUND_WORDS = {"<=": "", "<": "under ", ">=": "at least ", ">": "over ", "==": "exactly "}
_BOUND = re.compile(r"^\s*(<=|<|>=|>|==)?\s*(.+?)\s*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_UNIT_WORDS = {"ms": "ms", "s": "s", "m": "min", "h": "h", None: "s"}


def seconds_text(value: float | None, resolution: float | None = None) -> str:
    """``6.0 s``: a duration with no more decimals than its resolution supports ("-" if None)."""
    if value is None or not math.isfinite(value):
        return "-"
    return format_seconds(value, resolution).removesuffix("s") + " s"


def resolution_text(resolution: float | None) -> str:
    """``±0.4 s``: rounded as the figure beside it is (``0.49 s ±0.44 s`` claims digits it has not)."""
    if resolution is None or not math.isfinite(resolution):
        return ""
    return f"±{seconds_text(resolution, resolution)}"


def figure_text(value: float | None, resolution: float | None) -> str:
    """``3.0 s ±0.15 s``: a measured duration and its uncertainty, never more precise than that."""
    return f"{seconds_text(value, resolution)} {resolution_text(resolution)}".strip()


def remote_workers_text(load: LoadResult) -> str:
    """``load from 2 other machines: w1 on host-a (clock +12.3 ms ±0.4 ms), ...``; "" without any.

    Each worker's clock offset and its uncertainty: its stamps were shifted by the one, and the
    other is added to every resolution of the trial."""
    if not load.remote_workers:
        return ""
    parts = []
    for w in load.remote_workers:
        moved = "; it moved during the run" if not w.consistent else ""
        parts.append(
            f"{w.worker} on {w.host} (clock {w.offset * 1e3:+.1f} ms ±{w.uncertainty * 1e3:.1f} ms{moved})"
        )
    n = len(load.remote_workers)
    return f"load from {n} other machine{'s' if n != 1 else ''}: " + ", ".join(parts)


def oom_kills_text(trial: TrialResult) -> str:
    """``OOM kills: app at 12.3 s (container ended, exit 137, limit 48 MiB; by the oom fault)``;
    "" without any."""
    if not trial.oom_kills:
        return ""
    parts = []
    for k in trial.oom_kills:
        how = "container ended" if k.oom_killed else f"a process killed, container {k.status}"
        if k.exit_code is not None:
            how += f", exit {k.exit_code}"
        if k.memory_limit:
            how += f", limit {k.memory_limit / 2**20:.0f} MiB"
        by = "by the oom fault" if k.seen_by == "fault" else "it outgrew its limit (found at teardown)"
        parts.append(f"{k.service} at {k.at:.1f} s ({how}; {by})")
    return "OOM kills by the kernel: " + ", ".join(parts)


def bound_kind(expectation: str) -> str:
    """How an expectation's bound reads: ``duration`` (seconds), ``share`` (0..1) or ``count``."""
    if expectation in DURATION_EXPECTATIONS:
        return "duration"
    return "share" if expectation == "error_rate_during_fault" else "count"


def _plain_value(text: str, kind: str) -> str:
    if kind == "share":
        try:
            return f"{float(text) * 100:g} %"
        except ValueError:
            return text
    m = _DURATION.match(text)
    if kind == "duration" and m:
        return f"{m.group(1)} {_UNIT_WORDS[m.group(2)]}"
    return text


def plain_bound(target: str, kind: str = "duration") -> str:
    """A bound as a person says it: ``<= 4s`` → ``4 s``, ``>= 2s`` → ``at least 2 s``.

    A ceiling reads as the plain value ("the target was 4 s"), the way an operations lead says
    it; every other comparison is spelled out. ``kind`` (see :func:`bound_kind`) says whether
    the value is a duration (a bare number is seconds), a 0..1 share (shown as a percentage)
    or a count.
    """
    m = _BOUND.match(target)
    if not m:
        return target
    op = m.group(1) or "<="
    return _BOUND_WORDS.get(op, op + " ") + _plain_value(m.group(2), kind)


def _measured_plain(v: Verdict) -> str:
    text = v.measured_text
    if v.expectation in DURATION_EXPECTATIONS and text.endswith("s"):
        return text[:-1] + " s"
    return text


_CONSISTENCY_MISSES = {
    "lost_writes": "acknowledged writes lost: {n}",
    "duplicate_writes": "writes applied more than once: {n}",
    "corrupted_writes": "writes stored with a wrong value: {n}",
    "phantom_writes": "writes reported as failed yet applied: {n}",
    "stuck": "work accepted but never finished: {n}",
}


def miss_sentence(v: Verdict) -> str:
    """One missed expectation in words: ``recovery took 6.0 s, the target was 4 s``."""
    name = v.expectation
    measured = v.measured
    target = v.target
    if name == "recovery_time":
        if measured is None:
            bound = plain_bound(target)
            return f"the service did not recover before the rehearsal ended, the target was {bound}"
        return f"recovery took {_measured_plain(v)}, the target was {plain_bound(target)}"
    if name == "time_to_impact":
        if measured is None:
            return f"the fault never affected users, the target was {plain_bound(target)}"
        return f"users were affected after {_measured_plain(v)}, the target was {plain_bound(target)}"
    if name == "outage":
        return f"the outage lasted {_measured_plain(v)}, the target was {plain_bound(target)}"
    if name == "error_rate_during_fault":
        if measured is None:
            return "no request completed during the fault (silence is not success)"
        share = f"{float(measured) * 100:.3g} %"
        return f"{share} of requests failed during the fault, the target was {plain_bound(target, 'share')}"
    if name in ("rollback_duration", "detection_to_rollback"):
        if measured is None:
            return f"the rollback did not complete ({v.measured_text or 'no rollback happened'})"
        what = "the rollback took" if name == "rollback_duration" else "rolling back started"
        after = "" if name == "rollback_duration" else " after the first impact"
        return f"{what} {_measured_plain(v)}{after}, the target was {plain_bound(target)}"
    if name == "baseline":
        return f"the target was unhealthy before any fault ({target})"
    if name == "recovered":
        if measured:
            return "the service recovered, but the scenario expected it not to"
        return "the service did not recover before the rehearsal ended"
    if name in _CONSISTENCY_MISSES:
        if measured is None:
            return f"data consistency could not be checked ({v.measured_text or 'no audit'})"
        what = _CONSISTENCY_MISSES[name].format(n=v.measured_text)
        return f"{what}, the target was {plain_bound(target, 'count')}"
    if name == "data_restored":
        return f"the rollback restored the service, not the data: {v.measured_text} after it"
    bound = plain_bound(target, bound_kind(name))
    return f"{name} measured {v.measured_text}, the target was {bound}"


#: Each expectation in words a non-engineer can read in a table header or a tooltip.
EXPECTATION_WORDS = {
    "recovery_time": "recovery time (MTTR): from the fault ending until the service is healthy and stays so",
    "time_to_impact": "time to impact: from the fault starting until users are affected",
    "outage": "outage: total time users were affected",
    "error_rate_during_fault": "share of requests failing while the fault was active",
    "recovered": "the service recovered before the run ended",
    "lost_writes": "acknowledged writes missing from the final state",
    "duplicate_writes": "writes applied more than once",
    "corrupted_writes": "writes stored with a different value than the client sent",
    "phantom_writes": "writes reported as failed that were applied anyway",
    "stuck": "work accepted but not finished after the drain wait",
    "rollback_duration": "rollback: from the trigger until the service is healthy at the old version",
    "detection_to_rollback": "from the first impact until the rollback was triggered",
}


def measured_words(v: Verdict) -> str:
    """A verdict's measured value for a table: durations with their ±, shares as percentages."""
    measured = v.measured
    kind = bound_kind(v.expectation)
    if measured is None or isinstance(measured, bool) or not isinstance(measured, int | float):
        return v.measured_text
    if kind == "duration":
        return figure_text(measured, v.resolution)
    if kind == "share":
        return f"{measured * 100:.3g} %"
    return v.measured_text


def margin_text(v: Verdict) -> str:
    """How far inside (+) or outside (-) its target a verdict landed, in the measurement's unit."""
    margin = v.margin
    if margin is None or not isinstance(margin, int | float) or not math.isfinite(margin):
        return ""
    sign = "+" if margin >= 0 else "−"
    if v.expectation in DURATION_EXPECTATIONS:
        return sign + seconds_text(abs(margin), v.resolution)
    if v.expectation == "error_rate_during_fault":
        return f"{sign}{number_text(abs(margin) * 100)} points"
    return f"{sign}{number_text(abs(margin))}"


def number_text(x: float) -> str:
    """``1,180`` or ``0.0123``: a plain number, never in e-notation (``1.18e+03``)."""
    if float(x).is_integer():
        return f"{int(x):,}"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) >= 1e-3 else f"{x:.6f}".rstrip("0")
