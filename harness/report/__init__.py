"""Reports of a run, written from its :class:`~harness.results.Results` alone.

The renderers (:mod:`~harness.report.html`, :mod:`~harness.report.junit`,
:mod:`~harness.report.markdown`, :mod:`~harness.report.console`, :mod:`~harness.report.index`)
are pure functions of the results model (plus, for the HTML plots, the per-trial
:class:`~harness.analysis.TrialAnalysis`). They never reach into the orchestrator, so
``aftershock report RUN_DIR`` regenerates exactly what a run wrote. What they must say
identically lives in one module per concept: :mod:`~harness.report.words` (figures, bounds,
missed expectations), :mod:`~harness.report.headline` (the verdict and the scenario as run),
:mod:`~harness.report.consistency` and :mod:`~harness.report.mttr`. Nothing heavy is imported
here: matplotlib only inside the functions that draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from harness.report.consistency import CONSISTENCY_PROBLEMS, CONSISTENCY_WORDS, consistency_rows
from harness.report.headline import (
    as_run_words,
    escalation_text,
    headline,
    no_verdict_sentence,
    slo_sentence,
    status_word,
)
from harness.report.mttr import MttrStats, mttr_stats, mttr_text
from harness.report.words import (
    DURATION_EXPECTATIONS,
    EXPECTATION_WORDS,
    bound_kind,
    figure_text,
    margin_text,
    measured_words,
    miss_sentence,
    plain_bound,
    resolution_text,
    seconds_text,
)
from harness.results import Results

if TYPE_CHECKING:
    from harness.measure.trial_analysis import TrialAnalysis

__all__ = [
    "CONSISTENCY_PROBLEMS",
    "CONSISTENCY_WORDS",
    "DURATION_EXPECTATIONS",
    "EXPECTATION_WORDS",
    "REPORT_FILES",
    "MttrStats",
    "as_run_words",
    "bound_kind",
    "consistency_rows",
    "escalation_text",
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
REPORT_FILES = ("report.html", "junit.xml", "summary.md", "postmortem.md")


def write_reports(run_dir: Path, results: Results, analyses: Sequence[TrialAnalysis]) -> list[Path]:
    """Write ``report.html``, ``junit.xml``, ``summary.md`` and ``postmortem.md`` into ``run_dir``.

    Returns their paths.

    Every renderer is tried even if an earlier one fails (a matplotlib problem must not cost CI
    its ``junit.xml``); the failures are raised together as an :class:`ExceptionGroup`, with a
    note naming the reports that were written. Each file is written atomically.
    ``results.json`` is not written here: the orchestrator owns it.
    """
    from harness.report.html import write_html
    from harness.report.junit import write_junit
    from harness.report.markdown import write_summary
    from harness.report.postmortem import write_postmortem

    jobs: list[tuple[str, Callable[[], Path]]] = [
        ("report.html", lambda: write_html(run_dir, results, analyses)),
        ("junit.xml", lambda: write_junit(run_dir / "junit.xml", results)),
        ("summary.md", lambda: write_summary(run_dir / "summary.md", results)),
        ("postmortem.md", lambda: write_postmortem(run_dir / "postmortem.md", results)),
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
