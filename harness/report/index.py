"""``reports/index.html``: recovery time per scenario over time, across every run directory.

The question it answers is the one a team asks between releases: is our recovery getting
slower? It reads only each run's ``results.json`` (never the ledgers, so a directory of a
thousand runs indexes in seconds), plots each scenario's MTTR (median over that run's trials,
per fault) against the run's start, and lists every run in a table that links to its own
``report.html`` by a relative path. Self-contained like the run report: inline CSS, the plot as
a base64 PNG, no network, no script.

Reading and validating every ``results.json`` again on every run cost about 5 ms per past run (a
third of a second CPU for 60 runs), paid at the end of each run. ``reports/.index-cache.json``
keeps what the index shows of each run (its rows, its MTTR points), keyed by the run directory and
its ``results.json``'s mtime and size; an entry is rebuilt when missing or stale, the whole cache
when the report code changes. The page is the same with or without it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.files import atomic_write_text
from harness.report.headline import status_word
from harness.report.lead import data_phrase
from harness.report.mttr import MttrStats, mttr_stats, mttr_text
from harness.report.style import INDEX_CSS as _CSS
from harness.report.words import plain_bound, resolution_text
from harness.results import Results, read_results

if TYPE_CHECKING:
    from harness.report.plots import RunPoint

INDEX_NAME = "index.html"
CACHE_NAME = ".index-cache.json"


@dataclass(frozen=True)
class IndexedRun:
    """One run directory as the index sees it."""

    run_dir: Path
    results: Results
    started: dt.datetime

    @property
    def has_report(self) -> bool:
        return (self.run_dir / "report.html").exists()


def _started(results: Results, run_dir: Path) -> dt.datetime:
    """The run's start as naive UTC: ``started_at`` if present, else the run id's own stamp."""
    text = results.started_at
    if text is not None:
        try:
            when = dt.datetime.fromisoformat(text)
            return when.astimezone(dt.UTC).replace(tzinfo=None) if when.tzinfo else when
        except ValueError:
            pass
    try:  # run ids start with the local time they were made: 20261121-054128-d8a9
        return dt.datetime.strptime((results.run_id or run_dir.name)[:15], "%Y%m%d-%H%M%S")
    except ValueError:
        return dt.datetime.fromtimestamp(run_dir.stat().st_mtime, dt.UTC).replace(tzinfo=None)


def collect_runs(reports_dir: Path) -> tuple[list[IndexedRun], list[tuple[Path, str]]]:
    """Every run dir with a readable ``results.json``, oldest first, and those that were skipped."""
    runs: list[IndexedRun] = []
    skipped: list[tuple[Path, str]] = []
    for child in sorted(p for p in Path(reports_dir).iterdir() if p.is_dir()):
        path = child / "results.json"
        if not path.exists():
            continue
        try:
            results = read_results(path)
        except (OSError, ValueError) as exc:
            skipped.append((child, f"{type(exc).__name__}: {exc}"))
            continue
        runs.append(IndexedRun(child, results, _started(results, child)))
    runs.sort(key=lambda r: (r.started, r.run_dir.name))
    return runs, skipped


def as_run_cell(results: Results) -> str:
    """The index's "as run" column: what differed from the scenario as written, briefly."""
    run = results.as_run
    if run is None:
        return f"{results.backend}, seed {results.seed}"
    parts = [run.backend, f"seed {run.seed}"]  # the mode has its own column
    if run.load_workers > 1:
        parts.append(f"{run.load_workers} load workers")
    if run.remote_workers:
        parts.append(f"{run.remote_workers} remote load workers")
    return ", ".join(parts)


def mode_cell(results: Results) -> str:
    """The index's "mode" column: the target mode the run used (``default`` when none)."""
    run = results.as_run
    return (run.mode if run and run.mode else "default") if run else "unknown"


_HEADER = (
    "started (UTC)",
    "scenario",
    "mode",
    "as run",
    "result",
    "data damage",
    "fault",
    "MTTR (median)",
    "max",
    "resolution",
    "target",
    "trials",
    "run",
)


def _run_rows(run: IndexedRun) -> list[str]:
    """One table row per fault of the run (one row if it measured none); facts on the first."""
    r = run.results
    word = status_word(r)
    target = r.expect.recovery_time
    name = escape(run.run_dir.name)
    link = f'<a href="{name}/report.html">{name}</a>' if run.has_report else name
    rows = []
    stats: list[MttrStats | None] = list(mttr_stats(r)) or [None]
    for n, s in enumerate(stats):
        first = n == 0
        cells = [
            f'<td class="nw">{run.started.isoformat(sep=" ", timespec="minutes") if first else ""}</td>',
            f"<td>{escape(r.scenario) if first else ''}</td>",
            f"<td>{escape(mode_cell(r)) if first else ''}</td>",
            f"<td>{escape(as_run_cell(r)) if first else ''}</td>",
            f'<td class="{word}">{word}</td>' if first else "<td></td>",
            f"<td>{escape(data_phrase(r.trials)) if first else ''}</td>",
            f"<td>{escape(s.fault) if s else '-'}</td>",
            f'<td class="num">{escape(mttr_text(s.median, s.resolution)) if s else "-"}</td>',
            f'<td class="num">{escape(mttr_text(s.max, s.resolution)) if s else "-"}</td>',
            f'<td class="num">{escape(resolution_text(s.resolution)) if s else ""}</td>',
            f"<td>{escape(plain_bound(target)) if isinstance(target, str) else '-'}</td>",
            f'<td class="num">{len(s.values) if s else len(r.trials)}</td>',
            f'<td class="run">{link if first else ""}</td>',
        ]
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return rows


@dataclass(frozen=True)
class RunSummary:
    """What the index shows of one run: all it needs once the run's results.json has been read."""

    name: str
    started: dt.datetime
    scenario: str
    passed: bool
    mttr: tuple[tuple[str, float], ...]  # (fault, median over trials; inf = not recovered)
    rows: tuple[str, ...]  # the table's rows for this run, rendered

    @classmethod
    def of(cls, run: IndexedRun) -> RunSummary:
        r = run.results
        return cls(
            name=run.run_dir.name,
            started=run.started,
            scenario=r.scenario,
            passed=status_word(r) == "PASSED",
            mttr=tuple((s.fault, float(s.median)) for s in mttr_stats(r)),
            rows=tuple(_run_rows(run)),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started.isoformat(),
            "scenario": self.scenario,
            "passed": self.passed,
            "mttr": [[f, m] for f, m in self.mttr],  # JSON's Infinity: not recovered
            "rows": list(self.rows),
        }

    @classmethod
    def from_json(cls, name: str, doc: dict[str, Any]) -> RunSummary:
        return cls(
            name=name,
            started=dt.datetime.fromisoformat(doc["started"]),
            scenario=str(doc["scenario"]),
            passed=bool(doc["passed"]),
            mttr=tuple((str(f), float(m)) for f, m in doc["mttr"]),
            rows=tuple(str(r) for r in doc["rows"]),
        )


def _code_stamp() -> str:
    """Changes whenever the code that renders a run's rows does (a stale cache would lie)."""
    import harness

    here = Path(__file__).resolve().parent
    files = sorted([*here.glob("*.py"), *(here.parent / "results").glob("*.py")])
    text = json.dumps([harness.__version__, [(f.name, f.stat().st_mtime_ns) for f in files]])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_stamp(run_dir: Path) -> list[int] | None:
    """The cache key of a run dir: its results.json's mtime and size, and whether it has a report."""
    try:
        st = (run_dir / "results.json").stat()
    except OSError:
        return None
    return [st.st_mtime_ns, st.st_size, int((run_dir / "report.html").exists())]


def _read_cache(path: Path, code: str) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("code") != code or not isinstance(doc.get("runs"), dict):
        return {}
    runs: dict[str, Any] = doc["runs"]
    return runs


def collect_summaries(
    reports_dir: Path, use_cache: bool = True
) -> tuple[list[RunSummary], list[tuple[Path, str]]]:
    """:func:`collect_runs` as summaries, from ``.index-cache.json`` where its entries are fresh.

    Reads the results.json of new and changed runs only, and rewrites the cache when anything in
    it changed; a cache that cannot be written is only a missed saving.
    """
    reports_dir = Path(reports_dir)
    path, code = reports_dir / CACHE_NAME, _code_stamp()
    cached = _read_cache(path, code) if use_cache else {}
    kept: dict[str, Any] = {}
    summaries: list[RunSummary] = []
    skipped: list[tuple[Path, str]] = []
    for child in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        stamp = _run_stamp(child)
        if stamp is None:
            continue
        entry = cached.get(child.name)
        if isinstance(entry, dict) and entry.get("stamp") == stamp:
            try:
                summaries.append(RunSummary.from_json(child.name, entry))
                kept[child.name] = entry
                continue
            except (KeyError, TypeError, ValueError):
                pass  # a damaged entry: read the run again
        try:
            results = read_results(child / "results.json")
        except (OSError, ValueError) as exc:
            skipped.append((child, f"{type(exc).__name__}: {exc}"))
            continue
        summary = RunSummary.of(IndexedRun(child, results, _started(results, child)))
        summaries.append(summary)
        kept[child.name] = {"stamp": stamp, **summary.to_json()}
    summaries.sort(key=lambda r: (r.started, r.name))
    if use_cache and kept != cached:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs time
            atomic_write_text(path, json.dumps({"code": code, "runs": kept}, separators=(",", ":")))
    return summaries, skipped


def _points(runs: list[RunSummary]) -> list[RunPoint]:
    """The plot's points: one series per scenario, or per scenario and fault when it has several."""
    from harness.report.plots import RunPoint

    faults_per_scenario: dict[str, set[str]] = {}
    for run in runs:
        for fault, _median in run.mttr:
            faults_per_scenario.setdefault(run.scenario, set()).add(fault)
    points = []
    for run in reversed(runs):
        for fault, median in run.mttr:
            series = (
                run.scenario
                if len(faults_per_scenario.get(run.scenario, ())) <= 1
                else f"{run.scenario} / {fault}"
            )
            points.append(RunPoint(series, run.started, median, run.passed))
    return points


def _plot(runs: list[RunSummary]) -> str:
    from harness.report.plots import index_png

    points = _points(runs)
    if points:
        import base64

        png = base64.b64encode(index_png(points)).decode("ascii")
        return (
            f'<img src="data:image/png;base64,{png}" alt="recovery time per scenario over time">'
            '<p class="note">One line per scenario (line style and marker tell them apart; the legend '
            "names them). A filled marker is a run that did not pass; a point on the dotted top line "
            "never recovered.</p>"
        )
    if runs:
        return "<p>No run measured a fault yet: nothing to plot.</p>"
    return "<p>No run directory with a results.json here yet.</p>"


def render_index(reports_dir: Path, use_cache: bool = True) -> str:
    """The index page as a string (what :func:`write_index` writes)."""
    runs, skipped = collect_summaries(reports_dir, use_cache)
    rows = [row for run in reversed(runs) for row in run.rows]  # newest first in the table
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>aftershock: recovery time across {len(runs)} runs</title><style>{_CSS}</style></head><body>",
        "<h1>Recovery time (MTTR) per scenario over time</h1>",
        f'<p class="note">{len(runs)} runs under {escape(str(reports_dir))}. MTTR is the median over a '
        "run's trials of the time from a fault ending until the service met its target again and "
        "held it; ± is its resolution.</p>",
        _plot(runs),
    ]
    if rows:
        parts.append("<h2>Runs, newest first</h2><table><thead><tr>")
        parts.append("".join(f"<th>{escape(h)}</th>" for h in _HEADER))
        parts.append(f"</tr></thead><tbody>{''.join(rows)}</tbody></table>")
    if skipped:
        parts.append("<h2>Skipped</h2><ul>")
        parts += [f"<li>{escape(p.name)}: {escape(why)}</li>" for p, why in skipped]
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def refresh_index(reports_dir: Path) -> str | None:
    """Rewrite ``reports_dir/index.html`` after a run; the reason it could not be, else None.

    Every way of running (``aftershock run``, the pytest plugin, ``explore``) calls this: the runs'
    own reports stand either way, so a failure here is said, never raised.
    """
    try:
        write_index(reports_dir)
    except Exception as exc:
        return f"{Path(reports_dir) / INDEX_NAME} not written: {type(exc).__name__}: {exc}"
    return None


def write_index(reports_dir: Path) -> Path:
    """Write ``reports_dir/index.html`` atomically and return its path."""
    path = Path(reports_dir) / INDEX_NAME
    atomic_write_text(path, render_index(Path(reports_dir)))
    return path


__all__ = [
    "CACHE_NAME",
    "INDEX_NAME",
    "IndexedRun",
    "RunSummary",
    "collect_runs",
    "collect_summaries",
    "refresh_index",
    "render_index",
    "write_index",
]
