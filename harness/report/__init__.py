"""Reports of a run, and the plain words every one of them shares.

The renderers (:mod:`~harness.report.html`, :mod:`~harness.report.junit`,
:mod:`~harness.report.markdown`, :mod:`~harness.report.index`) are pure functions of the
``results.json`` document (plus, for the HTML plots, the per-trial
:class:`~harness.analysis.TrialAnalysis`). They never reach into the orchestrator, so
``aftershock report RUN_DIR`` regenerates exactly what a run wrote.

This module holds what they must say identically - the headline, how a missed expectation is
worded, how a bound reads in plain English, the MTTR distribution over trials - so that the CI
summary, the JUnit failure and the HTML page never disagree. It imports nothing heavy:
matplotlib is imported only inside the functions that draw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import atomic_write_bytes as _atomic_write_bytes
from harness.measure.trials import percentile
from harness.scenario.durations import format_seconds

if TYPE_CHECKING:
    from harness.analysis import TrialAnalysis

__all__ = [
    "CONSISTENCY_PROBLEMS",
    "CONSISTENCY_WORDS",
    "DURATION_EXPECTATIONS",
    "EXPECTATION_WORDS",
    "REPORT_FILES",
    "MttrStats",
    "atomic_write_bytes",
    "bound_kind",
    "consistency_rows",
    "escalation_text",
    "fault_rows",
    "figure_text",
    "headline",
    "margin_text",
    "measured_words",
    "miss_sentence",
    "mttr_stats",
    "mttr_text",
    "no_verdict_sentence",
    "plain_bound",
    "resolution_text",
    "seconds_text",
    "slo_sentence",
    "status_word",
    "write_reports",
]

#: What :func:`write_reports` writes into a run directory (``results.json`` is the orchestrator's).
REPORT_FILES = ("report.html", "junit.xml", "summary.md")
#: Expectations whose values are durations in seconds (the others are a share or a yes/no).
DURATION_EXPECTATIONS = frozenset(
    {"recovery_time", "time_to_impact", "outage", "rollback_duration", "detection_to_rollback"}
)

_BOUND_WORDS = {"<=": "", "<": "under ", ">=": "at least ", ">": "over ", "==": "exactly "}
_BOUND = re.compile(r"^\s*(<=|<|>=|>|==)?\s*(.+?)\s*$")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$")
_UNIT_WORDS = {"ms": "ms", "s": "s", "m": "min", "h": "h", None: "s"}


# one implementation, in harness.report.results
atomic_write_bytes = _atomic_write_bytes


# -- plain words ------------------------------------------------------------------------------


def seconds_text(value: float | None, resolution: float | None = None) -> str:
    """``6.0 s``: a duration with no more decimals than its resolution supports ("-" if None)."""
    if value is None or not math.isfinite(value):
        return "-"
    return format_seconds(value, resolution).removesuffix("s") + " s"


def resolution_text(resolution: float | None) -> str:
    """``±0.14 s``: two significant figures are all an uncertainty deserves."""
    if resolution is None or not math.isfinite(resolution):
        return ""
    return f"±{resolution:.2g} s"


def figure_text(value: float | None, resolution: float | None) -> str:
    """``3.0 s ±0.15 s``: a measured duration and its uncertainty, never more precise than that."""
    return f"{seconds_text(value, resolution)} {resolution_text(resolution)}".strip()


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


def _measured_plain(v: dict[str, Any]) -> str:
    text = str(v.get("measured_text", ""))
    if v.get("expectation") in DURATION_EXPECTATIONS and text.endswith("s"):
        return text[:-1] + " s"
    return text


_CONSISTENCY_MISSES = {
    "lost_writes": "acknowledged writes lost: {n}",
    "duplicate_writes": "writes applied more than once: {n}",
    "corrupted_writes": "writes stored with a wrong value: {n}",
    "phantom_writes": "writes reported as failed yet applied: {n}",
    "stuck": "work accepted but never finished: {n}",
}


def miss_sentence(v: dict[str, Any]) -> str:
    """One missed expectation in words: ``recovery took 6.0 s, the target was 4 s``."""
    name = v.get("expectation")
    measured = v.get("measured")
    target = str(v.get("target", ""))
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
            return f"the rollback did not complete ({v.get('measured_text') or 'no rollback happened'})"
        what = "the rollback took" if name == "rollback_duration" else "rolling back started"
        after = "" if name == "rollback_duration" else " after the first impact"
        return f"{what} {_measured_plain(v)}{after}, the target was {plain_bound(target)}"
    if name == "recovered":
        if measured:
            return "the service recovered, but the scenario expected it not to"
        return "the service did not recover before the rehearsal ended"
    if name in _CONSISTENCY_MISSES:
        if measured is None:
            return f"data consistency could not be checked ({v.get('measured_text') or 'no audit'})"
        what = _CONSISTENCY_MISSES[name].format(n=v.get("measured_text"))
        return f"{what}, the target was {plain_bound(target, 'count')}"
    bound = plain_bound(target, bound_kind(str(name)))
    return f"{name} measured {v.get('measured_text')}, the target was {bound}"


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


def measured_words(v: dict[str, Any]) -> str:
    """A verdict's measured value for a table: durations with their ±, shares as percentages."""
    measured = v.get("measured")
    kind = bound_kind(str(v.get("expectation")))
    if measured is None or isinstance(measured, bool) or not isinstance(measured, int | float):
        return str(v.get("measured_text", ""))
    if kind == "duration":
        return figure_text(measured, v.get("resolution"))
    if kind == "share":
        return f"{measured * 100:.3g} %"
    return str(v.get("measured_text", ""))


def margin_text(v: dict[str, Any]) -> str:
    """How far inside (+) or outside (-) its target a verdict landed, in the measurement's unit."""
    margin = v.get("margin")
    if margin is None or not isinstance(margin, int | float) or not math.isfinite(margin):
        return ""
    sign = "+" if margin >= 0 else "−"
    if v.get("expectation") in DURATION_EXPECTATIONS:
        return sign + seconds_text(abs(margin), v.get("resolution"))
    if v.get("expectation") == "error_rate_during_fault":
        return f"{sign}{abs(margin) * 100:.3g} points"
    return f"{sign}{abs(margin):.3g}"


def escalation_text(results: dict[str, Any]) -> str | None:
    """``needs a human: ...`` when the run's recovery exceeded its automated budget, else None.

    DESIGN.md's escalation: a recovery (or a rollback) slower than the automated-recovery budget
    (3 minutes unless the scenario says otherwise) is labelled as needing a human.
    """
    esc = results.get("escalation")
    if not isinstance(esc, dict) or not esc.get("needs_human"):
        return None
    budget = esc.get("budget")
    within = f" (automated-recovery budget {budget:g} s)" if isinstance(budget, int | float) else ""
    reasons = "; ".join(str(r) for r in esc.get("reasons") or []) or "see the recovery figures"
    return f"needs a human{within}: {reasons}"


def status_word(results: dict[str, Any]) -> str:
    """PASSED, FAILED, ERROR, INTERRUPTED or INCOMPLETE: the one word a CI badge shows."""
    if results.get("interrupted"):
        return "INTERRUPTED"
    if results.get("error"):
        return "ERROR"
    if not results.get("complete", True):
        return "INCOMPLETE"
    return "PASSED" if results.get("passed") else "FAILED"


def headline(results: dict[str, Any]) -> str:
    """The verdict in one line of plain words, for someone who reads nothing else.

    An interrupted, errored or incomplete run says so before anything it measured: its
    figures are partial, and a "pass" on part of a rehearsal is not a pass.
    """
    word = status_word(results)
    verdicts: list[dict[str, Any]] = list(results.get("verdicts") or [])
    misses = [v for v in verdicts if not v.get("passed")]
    if word == "INTERRUPTED":
        return (
            "INTERRUPTED: the rehearsal was stopped before it finished; the figures cover what was measured"
        )
    if word == "ERROR":
        lines = str(results.get("error") or "").strip().splitlines()
        return "ERROR: the rehearsal could not complete: " + (lines[0] if lines else "unknown error")
    if word == "INCOMPLETE":
        return (
            "INCOMPLETE: the run did not record its end or did not finish every trial; "
            "the figures cover what was measured"
        )
    if word == "PASSED":
        if not verdicts:
            return "PASSED: no expectation was stated; the figures were measured, nothing was asserted"
        return "PASSED: every expectation met"
    if not misses:
        return "FAILED: see the verdict table"
    first = misses[0]
    text = f"FAILED: {miss_sentence(first)} (trial {first.get('trial')}, {first.get('fault')})"
    if len(misses) > 1:
        text += f"; {len(misses) - 1} more expectation{'s' if len(misses) > 2 else ''} missed"
    return text


def slo_sentence(slo: dict[str, Any]) -> str:
    """What "healthy" and "recovered" meant in this run, in one sentence."""

    def dur(key: str, default: str) -> str:
        return _plain_value(str(slo.get(key) or default), "duration")

    parts = [f"at least {float(slo.get('success_rate', 0.99)) * 100:g} % of requests succeed"]
    for key, name in (("p95_latency", "95 %"), ("p99_latency", "99 %")):
        if slo.get(key):
            parts.append(f"{name} of requests answer within {dur(key, '')}")
    return (
        f"Healthy means that in every {dur('window', '1s')} window {' and '.join(parts)} "
        f"(judged every {dur('step', '0.1s')}); "
        f"recovered means healthy without a break for {dur('hold', '5s')}."
    )


#: Consistency categories (DESIGN.md, "Consistency") in reading order, each with its meaning.
CONSISTENCY_WORDS = {
    "writes": "write operations the load made (one per idempotency key)",
    "acknowledged": "the client got a success answer",
    "definitely_failed": "the server said the operation did not apply",
    "indeterminate": "no clear answer (timeout, reset): may or may not have applied",
    "indeterminate_present": "of those, applied after all",
    "indeterminate_absent": "of those, not applied",
    "lost": "acknowledged, but missing from the final state",
    "duplicated": "applied more than once",
    "corrupted": "present with a different value than the client sent",
    "phantom": "reported as failed, yet present",
    "stuck": "accepted but not finished after the drain wait",
    "pending": "work the target still reported as pending after the drain wait",
    "effects": "what the final state holds, by kind",
}
#: Categories that are data problems when non-zero (the rest are context).
CONSISTENCY_PROBLEMS = frozenset({"lost", "duplicated", "corrupted", "phantom", "stuck"})


def _count_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return f"{value:g}"
    return str(value)


def consistency_rows(consistency: Any) -> list[tuple[str, str, list[str], str]]:
    """``(category, count, examples, meaning)`` rows of a trial's ``consistency`` object.

    The shape is :meth:`harness.measure.consistency.Consistency.to_dict`: counts per category,
    ``effects`` (count per kind of effect found) and ``examples`` (a few ids per category). It is
    read leniently, because consistency checking is still growing: a category may also be a list
    of ids or an object with ``count`` and ``examples``; unknown categories are shown after the
    known ones, in DESIGN.md's order.
    """
    if not isinstance(consistency, dict):
        return []
    shared = consistency.get("examples")
    examples_of: dict[str, Any] = shared if isinstance(shared, dict) else {}
    keys = [k for k in CONSISTENCY_WORDS if k in consistency]
    keys += [k for k in consistency if k not in CONSISTENCY_WORDS and k != "examples"]
    rows: list[tuple[str, str, list[str], str]] = []
    for key in keys:
        value = consistency[key]
        raw = examples_of.get(key, [])
        examples = [str(x) for x in raw] if isinstance(raw, list) else []
        if isinstance(value, list):
            count, examples = str(len(value)), [str(x) for x in value]
        elif isinstance(value, dict) and key == "effects":
            count = ", ".join(f"{k} {_count_text(v)}" for k, v in value.items()) or "none"
        elif isinstance(value, dict):
            ids = value.get("examples", value.get("ids", []))
            examples = [str(x) for x in ids] if isinstance(ids, list) else examples
            extra = [
                f"{k} {_count_text(v)}" for k, v in value.items() if k not in ("count", "examples", "ids")
            ]
            count = _count_text(value.get("count", len(examples)))
            count += f" ({', '.join(extra)})" if extra else ""
        else:
            count = _count_text(value)
        rows.append((key, count, examples[:5], CONSISTENCY_WORDS.get(key, "")))
    return rows


def no_verdict_sentence(results: dict[str, Any]) -> str:
    """Why the verdict table is empty: nothing was asked, or nothing could be judged."""
    if results.get("expect"):
        return "No expectation could be judged: the rehearsal did not measure any fault."
    return "No expectation was stated: the figures were measured, nothing was asserted."


def fault_rows(results: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Every measured fault as ``(trial, fault entry)``, in trial order."""
    return [(int(t["trial"]), f) for t in results.get("trials") or [] for f in t.get("faults") or []]


# -- MTTR over trials -------------------------------------------------------------------------


@dataclass(frozen=True)
class MttrStats:
    """DESIGN.md's "MTTR over trials" for one fault of the scenario.

    ``values`` are ``(trial, recovery_time or None, resolution)``; None is "not recovered",
    counted as infinitely long (so a median over mostly unrecovered trials is "not recovered",
    never a flattering number computed over the survivors). ``median``, ``p95`` and ``max`` are
    ``math.inf`` in that case. ``resolution`` is the largest of the values' resolutions.
    """

    fault: str
    values: tuple[tuple[int, float | None, float | None], ...]
    median: float
    p95: float
    max: float
    resolution: float | None

    @property
    def recovered(self) -> int:
        return sum(1 for _, v, _ in self.values if v is not None)


_percentile = percentile  # one definition, in harness.measure.trials


def mttr_stats(results: dict[str, Any]) -> list[MttrStats]:
    """Median, p95 and max of ``recovery_time`` over trials, per fault (by scenario index)."""
    groups: dict[tuple[int, str], list[tuple[int, float | None, float | None]]] = {}
    for trial, f in fault_rows(results):
        key = (int(f.get("index", 0)), str(f.get("label", "?")))
        rt = f.get("recovery_time")
        res = (f.get("resolution") or {}).get("recovery_time")
        groups.setdefault(key, []).append((trial, None if rt is None else float(rt), res))
    out: list[MttrStats] = []
    for (_, label), values in sorted(groups.items()):
        ordered = sorted(math.inf if v is None else v for _, v, _ in values)
        resolutions = [r for _, _, r in values if r is not None]
        out.append(
            MttrStats(
                fault=label,
                values=tuple(values),
                median=_percentile(ordered, 50),
                p95=_percentile(ordered, 95),
                max=ordered[-1],
                resolution=max(resolutions) if resolutions else None,
            )
        )
    return out


def mttr_text(value: float, resolution: float | None) -> str:
    """An MTTR figure in words: ``not recovered`` for infinity."""
    return "not recovered" if math.isinf(value) else seconds_text(value, resolution)


# -- all reports at once ----------------------------------------------------------------------


def write_reports(run_dir: Path, results: dict[str, Any], analyses: Sequence[TrialAnalysis]) -> list[Path]:
    """Write ``report.html``, ``junit.xml`` and ``summary.md`` into ``run_dir``; return their paths.

    Every renderer is tried even if an earlier one fails (a matplotlib problem must not cost CI
    its ``junit.xml``); the failures are raised together as an :class:`ExceptionGroup`, with a
    note naming the reports that were written. Each file is written atomically.
    ``results.json`` is not written here: the orchestrator owns it.
    """
    from harness.report.html import write_html
    from harness.report.junit import write_junit
    from harness.report.markdown import write_summary

    jobs: list[tuple[str, Callable[[], Path]]] = [
        ("report.html", lambda: write_html(run_dir, results, analyses)),
        ("junit.xml", lambda: write_junit(run_dir / "junit.xml", results)),
        ("summary.md", lambda: write_summary(run_dir / "summary.md", results)),
    ]
    written: list[Path] = []
    errors: list[Exception] = []
    for name, job in jobs:
        try:
            written.append(job())
        except Exception as exc:
            exc.add_note(f"while writing {run_dir / name}")
            errors.append(exc)
    if errors:
        group = ExceptionGroup(f"{len(errors)} of {len(jobs)} reports could not be written", errors)
        group.add_note("written: " + (", ".join(str(p) for p in written) or "none"))
        raise group
    return written
