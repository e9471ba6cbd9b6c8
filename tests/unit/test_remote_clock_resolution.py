"""A trial loaded from another machine states its clock's uncertainty in every recovery figure
(DESIGN.md, "Clock across machines"): the same hand-built run analysed with and without a remote
worker's clock statement."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.analysis import analyse_run
from harness.load.clock_sync import WorkerClock
from tests.unit.rundirs import RunDir
from tests.unit.test_analysis import DOWN


def resolution(tmp_path: Path, name: str, uncertainty_ns: int | None) -> dict[str, Any]:
    run = RunDir(tmp_path / f"20261121-120000-{name}", DOWN)
    run.trial(1, 1.0, 21.0, bad=[(5.0, 11.0)]).fault(1, 0, "down", "app->dep", 5.0, 9.0)
    run_dir = run.write()
    if uncertainty_ns is not None:
        WorkerClock(
            "rhost-7", "host", 3_000_000_000, uncertainty_ns, 2 * uncertainty_ns, 40, True, True
        ).write(run_dir / "trial-1")
    results, _ = analyse_run(run_dir)
    (fault,) = results.trials[0].faults
    assert fault.impact_bracket is not None and fault.recovery_bracket is not None
    return {
        **fault.resolution.model_dump(),
        "impact_half_width": fault.impact_bracket.half_width,
        "recovery_half_width": fault.recovery_bracket.half_width,
        "recovery_time_bracketed": fault.recovery_time_bracketed,
    }


def test_the_remote_clock_uncertainty_adds_to_every_resolution(tmp_path: Path) -> None:
    local = resolution(tmp_path, "loc1", None)
    remote = resolution(tmp_path, "rem1", 40_000_000)  # 40 ms
    for key in ("time_to_impact", "recovered_at", "recovery_time"):
        assert remote[key] == pytest.approx(local[key] + 0.040), key
    assert remote["outage"] == pytest.approx(local["outage"] + 0.080)
    for key in ("impact_half_width", "recovery_half_width"):  # each edge's stamp: 40 ms either way
        assert remote[key] == pytest.approx(local[key] + 0.040), key
    assert remote["recovery_time_bracketed"] == pytest.approx(local["recovery_time_bracketed"])
