"""Abort conditions on a real rehearsal: the ground-truth target with an outage far longer than the
scenario tolerates. A crossed bound clears every fault at once, stops the load, journals the bound
and the measured value, exits 4 (ABORTED) and still writes everything measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.load.ledger import read_records, shard_paths
from harness.measure.live import window_stats
from tests.conftest import REPO, aftershock, latest_run, leftovers, results_of

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"
STEP = 0.1


def _scenario(tmp_path: Path, abort: dict[str, Any], *, fault: bool = True) -> Path:
    doc: dict[str, Any] = {
        "name": "groundtruth-abort",
        "target": {"name": str(GROUNDTRUTH), "env": {"app": {"GT_RECOVERY_DELAY": "1"}}},
        "load": {"users": 4, "rate_per_user": 10, "duration": "40s", "request_timeout": "1s"},
        "slo": {"window": "1s", "step": f"{STEP:g}s", "success_rate": 0.99, "hold": "2s"},
        "faults": [{"kind": "down", "link": "app->dep", "at": "3s", "duration": "30s"}] if fault else [],
        "expect": {"recovery_time": "<= 10s"},
        "abort": abort,
    }
    path = tmp_path / "abort.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _journal(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


def _stopped_cleanly(run_dir: Path) -> dict[str, Any]:
    """The abort came before the scheduled end; after it every fault was cleared (forced), the
    load stopped, the target was torn down, and nothing the run started is left running."""
    journal = _journal(run_dir)
    kinds = [e["event"] for e in journal]
    (abort,) = [e for e in journal if e["event"] == "aborted"]
    after = kinds[kinds.index("aborted") :]
    injected = {e["fault"] for e in journal if e["event"] == "fault_injected"}
    cleared = [e for e in journal[kinds.index("aborted") :] if e["event"] == "fault_cleared"]
    assert {e["fault"] for e in cleared} == injected and all(e["forced"] for e in cleared)
    assert "fault_injected" not in after
    assert after.index("load_stopped") > max((after.index("fault_cleared") if cleared else 0), 0)
    assert "teardown_done" in after
    load_started = next(e for e in journal if e["event"] == "load_started")
    assert abort["t"] < load_started["t"] + 40  # before the load's scheduled end
    results = results_of(run_dir)
    assert not leftovers(results["run_id"])
    return abort


def test_error_rate_bound_stops_the_rehearsal_within_one_step_of_crossing_it(tmp_path: Path) -> None:
    proc = aftershock(
        "run",
        str(_scenario(tmp_path, {"error_rate": {"above": 0.5, "for": "2s"}})),
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "ABORTED" in proc.stdout
    run_dir = latest_run(tmp_path / "out")
    abort = _stopped_cleanly(run_dir)

    # journaled: the bound, the measured value, since when and for how long
    assert abort["bound"] == "error_rate" and abort["above"] == 0.5
    assert abort["measured"] > 0.5
    assert "error_rate above 0.5 for 2s" in abort["reason"]
    # decided at the first evaluation step at which the bound had held for 2 s
    assert 2.0 <= (abort["crossed_ns"] - abort["since_ns"]) / 1e9 < 2.0 + STEP + 1e-9

    # the complete ledger, judged with the same maths on the same grid, crossed at the same step
    results = results_of(run_dir)
    t0 = results["t0_ns"]
    load_start = next(e for e in _journal(run_dir) if e["event"] == "load_started")["t_ns"]
    rows = [(r.start_ns, r.end_ns, r.outcome == "ok") for r in read_records(shard_paths(run_dir / "trial-1"))]
    since = None
    crossed_at = None
    end = load_start + round(1e9)
    while crossed_at is None and end < load_start + round(40e9):
        st = window_stats([r for r in rows if end - round(1e9) < r[1] <= end], end)
        if st.error_share > 0.5:
            since = end if since is None else since
            if end - since >= round(2e9):
                crossed_at = (end - t0) / 1e9
        else:
            since = None
        end += round(STEP * 1e9)
    assert crossed_at is not None
    assert abs((abort["crossed_ns"] - t0) / 1e9 - crossed_at) <= STEP + 1e-6

    # everything measured is still written, and the run says ABORTED, not ESCALATE
    assert results["aborted"]["bound"] == "error_rate"
    assert results["aborted"]["crossed_at"] == pytest.approx((abort["crossed_ns"] - t0) / 1e9, abs=1e-6)
    assert results["passed"] is False and results["complete"] is False and results["error"] is None
    (trial,) = results["trials"]
    (fault,) = trial["faults"]
    assert fault["time_to_impact"] is not None and fault["injected_at"] < abort["t"]
    assert trial["load"]["requests"] > 0
    assert not results["escalation"]["needs_human"]
    assert "ESCALATE" not in proc.stdout
    for name in ("report.html", "summary.md", "junit.xml"):
        assert (run_dir / name).exists()
    assert "ABORTED" in (run_dir / "summary.md").read_text()


def test_an_http_check_that_says_stop_aborts(tmp_path: Path) -> None:
    scenario = _scenario(tmp_path, {"http": {"service": "app", "path": "/work", "every": "200ms"}})
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    run_dir = latest_run(tmp_path / "out")
    abort = _stopped_cleanly(run_dir)
    assert abort["bound"] == "http"
    assert "answered HTTP 503" in abort["measured"]  # /work fails while its dependency is down
    fault_at = next(e for e in _journal(run_dir) if e["event"] == "fault_injected")["t_ns"]
    assert abort["crossed_ns"] >= fault_at  # it said carry on while the target was healthy


def test_a_command_check_that_says_stop_aborts_and_leaves_nothing(tmp_path: Path) -> None:
    check = tmp_path / "check.py"
    check.write_text("import sys\nprint('error budget exhausted')\nsys.exit(3)\n")
    scenario = _scenario(tmp_path, {"command": {"run": ["{python}", str(check)], "every": "1s"}}, fault=False)
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 4, proc.stdout + proc.stderr
    abort = _stopped_cleanly(latest_run(tmp_path / "out"))
    assert abort["bound"] == "command"
    assert "exited 3: error budget exhausted" in abort["measured"]
