"""Known-answer rehearsals on the ground-truth target: the truth is logged by the service itself.

* Slow failures (issue 16, item 6): the service answers 503 only 0.6 s after a request arrives
  while it is broken. A request that arrives just before the recovery fails ~0.6 s after it;
  judged at completion that used to move the measured recovery ~0.5 s late, unseen.
* The transition bracket must contain the logged recovery instant.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, aftershock, latest_run, results_of

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"


def logged_recovery(run_dir: Path, t0_ns: int) -> float:
    for line in (run_dir / "trial-1" / "services" / "app.log").read_text().splitlines():
        if line.startswith("GT recovered "):
            return (int(line.split()[-1]) - t0_ns) / 1e9
    raise AssertionError("the ground-truth service never logged its recovery")


@pytest.mark.parametrize(
    ("kind", "fail_delay"),
    [
        ("down", "0.6"),  # the service answers 503 0.6 s after each request arrives while broken
        ("timeout", "0"),  # a black hole: the service's probe of its dependency hangs 0.3 s, then 503
    ],
)
def test_slow_failures_do_not_move_the_measured_recovery(tmp_path: Path, kind: str, fail_delay: str) -> None:
    doc = {
        "name": "groundtruth-slow-failures",
        "target": {
            "name": str(GROUNDTRUTH),
            "env": {"app": {"GT_RECOVERY_DELAY": "2", "GT_FAIL_DELAY": fail_delay}},
        },
        # Each user sends once a second and a failure takes 0.6 s, so no user is held up past
        # its next send: the users keep their own phases and a request arrives every ~50 ms
        # right through the recovery (users stuck in slow failures would fall into step and
        # leave a gap as long as the failure, which only a wide resolution can honestly cover).
        "load": {"users": 20, "rate_per_user": 1, "duration": "15s", "request_timeout": "2s"},
        "slo": {"window": "1s", "step": "50ms", "success_rate": 0.99, "hold": "3s"},
        "faults": [{"kind": kind, "link": "app->dep", "at": "4s", "duration": "3s"}],
    }
    scenario = tmp_path / "slow.yaml"
    scenario.write_text(yaml.safe_dump(doc))
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = latest_run(tmp_path / "out")
    results = results_of(run_dir)
    (fault,) = results["trials"][0]["faults"]
    truth = logged_recovery(run_dir, results["t0_ns"])
    resolution = fault["resolution"]["recovered_at"]
    error = fault["recovered_at"] - truth
    assert abs(error) <= resolution, (
        f"recovered_at off by {error:+.3f} s, stated resolution {resolution:.3f} s"
    )
    assert resolution < 0.5  # placement fixed it, not an error bar widened by the 1 s failures
    bracket = fault["recovery_bracket"]
    assert bracket is not None
    assert bracket["lower"] < truth <= bracket["upper"]


def test_a_fault_the_requests_never_cross_is_judged_by_the_work_it_stalls(tmp_path: Path) -> None:
    """Fault fidelity on the orders target: the users' requests go api -> db, never through the
    worker's payments link, so a latency fault there moves no request; it does hold up the work
    (the backlog leaves its baseline range), which the orders audit reports, so it is an observed
    effect on the work, not "no effect observed". The same kind of fault on api->db shows its
    latency shift on the requests. (A fault that moves neither is flagged in every report:
    tests/unit/test_trial_outcome.py and tests/unit/test_effect_on_the_work.py.)"""
    doc = {
        "name": "orders-worker-side",
        "target": "orders",
        "load": {"users": 10, "rate_per_user": 10, "duration": "16s"},
        "slo": {"window": "1s", "success_rate": 0.99, "hold": "2s"},
        "faults": [
            {"kind": "latency", "link": "worker->payments", "latency": "500ms", "at": "4s", "duration": "3s"},
            {"kind": "latency", "link": "api->db", "latency": "300ms", "at": "9s", "duration": "3s"},
        ],
    }
    scenario = tmp_path / "worker-side.yaml"
    scenario.write_text(yaml.safe_dump(doc))
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    results = results_of(latest_run(tmp_path / "out"))
    worker_side, real = results["trials"][0]["faults"]
    fid = worker_side["fidelity"]
    assert fid["requests_during"] > 0 and abs(fid["latency_shift"]) < 0.25, fid  # no request crossed it
    assert fid["no_effect"] is False and fid["note"].startswith("effect observed on the work"), fid
    assert worker_side["business"]["max_backlog"] > worker_side["business"]["baseline_backlog"]
    assert real["fidelity"]["effect_observed"] is True, real["fidelity"]
    assert real["fidelity"]["latency_shift"] >= 0.3 * 0.9
