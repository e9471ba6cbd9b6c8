"""The index's per-run summary cache (issue 13, dead time per trial): the page is the same with or
without it, a changed run is read again, and a cached run is not read at all."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

import harness.report.index as index
from harness.report.index import CACHE_NAME, render_index
from harness.results import write_results
from tests.unit.test_reports import synthetic_run, typed


def _run(reports: Path, run_id: str, scenario: str, delay: float, report: bool = False) -> Path:
    doc, _ = synthetic_run({"recovery_time": "<= 3s"}, trials=2, delays=(delay, 1.0))
    doc = copy.deepcopy(doc)
    doc["run_id"], doc["scenario"] = run_id, scenario
    doc["started_at"] = f"2026-11-{run_id[6:8]}T10:15:00+00:00"
    run_dir = reports / run_id
    run_dir.mkdir()
    write_results(run_dir / "results.json", typed(doc))
    if report:
        (run_dir / "report.html").write_text("<html></html>")
    return run_dir


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    _run(tmp_path, "20261120-101500-aaaa", "db-latency", 1.0, report=True)
    _run(tmp_path, "20261121-101500-bbbb", "db-down", 40.0)  # a trial not recovered: inf
    _run(tmp_path, "20261122-101500-cccc", "db-latency", 2.5, report=True)
    (tmp_path / "20261123-000000-dddd").mkdir()  # no results.json: not a run
    (tmp_path / "20261124-000000-eeee").mkdir()
    (tmp_path / "20261124-000000-eeee" / "results.json").write_text("{broken")  # skipped, said
    return tmp_path


def test_the_page_is_the_same_with_and_without_the_cache(
    reports: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = render_index(reports, use_cache=False)
    assert not (reports / CACHE_NAME).exists()
    assert render_index(reports) == plain  # builds the cache
    assert set(json.loads((reports / CACHE_NAME).read_text())["runs"]) == {
        "20261120-101500-aaaa",
        "20261121-101500-bbbb",
        "20261122-101500-cccc",
    }
    read: list[Path] = []
    original = index.read_results

    def counting(path: Path) -> Any:
        read.append(path)
        return original(path)

    monkeypatch.setattr(index, "read_results", counting)
    assert render_index(reports) == plain  # from the cache
    assert [p.parent.name for p in read] == ["20261124-000000-eeee"]  # only the unreadable one


def test_a_changed_run_is_read_again(reports: Path) -> None:
    render_index(reports)
    path = reports / "20261122-101500-cccc" / "results.json"
    doc = json.loads(path.read_text())
    doc["scenario"] = "renamed-scenario"
    path.write_text(json.dumps(doc))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    page = render_index(reports)
    assert "renamed-scenario" in page
    assert page == render_index(reports, use_cache=False)


def test_a_report_written_later_and_a_removed_run_are_seen(reports: Path) -> None:
    render_index(reports)
    (reports / "20261121-101500-bbbb" / "report.html").write_text("<html></html>")
    page = render_index(reports)
    assert 'href="20261121-101500-bbbb/report.html"' in page
    assert page == render_index(reports, use_cache=False)
    for f in (reports / "20261120-101500-aaaa").iterdir():
        f.unlink()
    (reports / "20261120-101500-aaaa").rmdir()
    page = render_index(reports)
    assert "20261120-101500-aaaa" not in page
    assert "20261120-101500-aaaa" not in json.loads((reports / CACHE_NAME).read_text())["runs"]


def test_a_damaged_or_foreign_cache_is_rebuilt(reports: Path) -> None:
    plain = render_index(reports, use_cache=False)
    (reports / CACHE_NAME).write_text('{"code": "other", "runs": {"20261120-101500-aaaa": {"rows": []}}}')
    assert render_index(reports) == plain
    cache = json.loads((reports / CACHE_NAME).read_text())
    cache["runs"]["20261120-101500-aaaa"]["mttr"] = "nonsense"
    (reports / CACHE_NAME).write_text(json.dumps(cache))
    assert render_index(reports) == plain
