"""scripts/screenshots.py: headless Chromium shoots the four report kinds and the index, and the
headline of each carries the verdict, the recovery (or MTTR), the outage and the data figures.

The run directories are built by hand (tests/unit/rundirs.py: the right answer is known), so the
test costs seconds; docs/screenshots/ holds the same pictures of real rehearsals, and its
headlines.txt is checked the same way.
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

import pytest

from harness.analysis import analyse_run
from harness.report import write_reports
from harness.report.index import write_index
from harness.results import write_results
from tests.conftest import REPO
from tests.unit.rundirs import RunDir
from tests.unit.test_analysis import DEPLOY, DOWN, run_ns

pytestmark = pytest.mark.integration
sys.path.insert(0, str(REPO / "scripts"))
import screenshots  # noqa: E402

#: What each kind's headline must say: the verdict word, then its figures.
_DATA = r"(no data lost|data not checked|[\d,]+ [a-z ]*writes)"
_REQUESTS = r"[\d,]+ of [\d,]+ requests failed"
_OUTAGE = r"users saw (no errors|errors for (up to )?\d+(\.\d+)? s)"
#: What each kind's headline must say: the verdict word first, then (in any order) its figures.
HEADLINE = {
    "passing": [r"^PASSED — ", r"recovered \d+\.\d s \(±\d+\.\d s\) after ", _OUTAGE, _REQUESTS, _DATA],
    "failing": [
        r"^FAILED — ",
        r"(recovered \d+\.\d s|NOT recovered|no impact (?:on requests )?from)",
        _OUTAGE,
        _REQUESTS,
        _DATA,
    ],
    "three-trials": [
        r"^(PASSED|FAILED) — ",
        r"MTTR median \d+\.\d s \(±\d+\.\d s\), max \d+\.\d s over 3 trials",
        _OUTAGE,
        _REQUESTS,
        _DATA,
    ],
    "rollback": [r"^(PASSED|FAILED)", r"rolled back in \d+\.\d s \(±", _OUTAGE, _REQUESTS, _DATA],
}


def _kinds(root: Path) -> None:
    """The four kinds as hand-built run dirs, their reports written as a run writes them."""
    runs = {
        "passing": RunDir(root / "passing" / "20261121-120000-pass", DOWN).trial(
            1, 1.0, 21.0, bad=[(5.0, 11.0)]
        ),
        "failing": RunDir(root / "failing" / "20261121-120100-fail", DOWN).trial(
            1, 1.0, 21.0, bad=[(5.0, 16.0)]
        ),
        "three-trials": RunDir(root / "three-trials" / "20261121-120200-tri3", DOWN, trials=3),
        "rollback": RunDir(root / "rollback" / "20261121-120300-roll", DEPLOY).trial(
            1, 1.0, 21.0, bad=[(5.0, 9.5)]
        ),
    }
    runs["passing"].fault(1, 0, "down", "app->dep", 5.0, 9.0)
    runs["failing"].fault(1, 0, "down", "app->dep", 5.0, 9.0)
    tri = runs["three-trials"]
    for n in (1, 2, 3):
        start = (n - 1) * 25.0
        tri.trial(n, start + 1.0, start + 21.0, bad=[(start + 5.0, start + 9.5 + n)])
        tri.fault(n, 0, "down", "app->dep", start + 5.0, start + 9.0)
    rb = runs["rollback"]
    rb.event(5.0, "deploy_started", service="app", version="v2", previous="v1")
    rb.fault(1, 0, "deploy", "app=v2", 6.5, 9.0, effect_ns=run_ns(5.0))
    rb.event(8.0, "rollback_triggered", trial=1, reason="manual rollback at 8s", action="redeploy")
    rb.event(9.0, "rollback_action_done", trial=1, ok=True, error="")
    rb.event(9.0, "rollback_confirmed", trial=1, how="app runs v1")
    all_dir = root / "all"
    all_dir.mkdir(parents=True)
    for run in runs.values():
        run.path.parent.mkdir(parents=True, exist_ok=True)
        path = run.write()
        results, analyses = analyse_run(path)
        write_results(path / "results.json", results)
        write_reports(path, results, analyses)
        (all_dir / path.name).symlink_to(path)
    write_index(all_dir)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", path
    width, height = struct.unpack(">II", head[16:24])
    return int(width), int(height)


def check_headlines(text: str) -> None:
    lines = dict(line.split(": ", 1) for line in text.strip().splitlines())
    assert set(lines) == set(HEADLINE), lines
    for kind, patterns in HEADLINE.items():
        for pattern in patterns:
            assert re.search(pattern, lines[kind]), f"{kind}: {lines[kind]!r} lacks {pattern!r}"


def test_the_script_shoots_every_kind_and_each_headline_carries_the_figures(tmp_path: Path) -> None:
    _kinds(tmp_path / "runs")
    written = screenshots.shoot(tmp_path / "runs", tmp_path / "shots")
    assert sorted(p.name for p in written) == sorted([*(f"{k}.png" for k in HEADLINE), "index.png"])
    for png in written:
        width, height = _png_size(png)
        assert width == screenshots.WIDTH and height >= 900
        assert png.stat().st_size > 20_000  # a rendered page, not a blank one
    check_headlines((tmp_path / "shots" / "headlines.txt").read_text(encoding="utf-8"))


def test_the_committed_screenshots_are_of_reports_whose_headline_carries_the_figures() -> None:
    shots = REPO / "docs" / "screenshots"
    for kind in [*HEADLINE, "index"]:
        assert _png_size(shots / f"{kind}.png")[0] == screenshots.WIDTH
    check_headlines((shots / "headlines.txt").read_text(encoding="utf-8"))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for kind in [*HEADLINE, "index"]:
        assert f"docs/screenshots/{kind}.png" in readme
