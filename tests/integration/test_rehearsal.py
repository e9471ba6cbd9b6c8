"""Real rehearsals through the CLI: real Toxiproxy, real processes, real Postgres, real Locust."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.load.ledger import read_records, shard_paths
from harness.measure.audit_store import audit_documents
from tests.conftest import REPO, aftershock, latest_run, leftovers, results_of

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"


def groundtruth_scenario(
    tmp_path: Path,
    *,
    delay: float,
    expect: dict[str, Any],
    duration: str = "20s",
    fault: dict[str, Any] | None = None,
) -> Path:
    """A scenario against the ground-truth target, whose recovery takes exactly `delay` seconds."""
    doc = {
        "name": f"groundtruth-{delay:g}s",
        "target": {"name": str(GROUNDTRUTH), "env": {"app": {"GT_RECOVERY_DELAY": str(delay)}}},
        "load": {"users": 10, "rate_per_user": 10, "duration": duration, "request_timeout": "1s"},
        "slo": {"window": "1s", "step": "50ms", "success_rate": 0.99, "hold": "3s"},
        "faults": [fault or {"kind": "down", "link": "app->dep", "at": "4s", "duration": "4s"}],
        "expect": expect,
    }
    path = tmp_path / f"{doc['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def truth_from_log(run_dir: Path, t0_ns: int) -> tuple[float, float]:
    """(dependency back, recovered) instants the ground-truth service logged, relative to t0."""
    back = rec = None
    for line in (run_dir / "trial-1" / "services" / "app.log").read_text().splitlines():
        if line.startswith("GT dependency_back "):
            back = (int(line.split()[-1]) - t0_ns) / 1e9
        elif line.startswith("GT recovered "):
            rec = (int(line.split()[-1]) - t0_ns) / 1e9
    assert back is not None and rec is not None, "the ground-truth service never recovered"
    return back, rec


@pytest.mark.parametrize("scenario", ["db-latency", "db-down"])
def test_orders_rehearsal_passes_end_to_end(scenario: str, tmp_path: Path) -> None:
    proc = aftershock("run", f"scenarios/{scenario}.yaml", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED" in proc.stdout
    run_dir = latest_run(tmp_path)
    results = results_of(run_dir)
    assert results["schema"] == "aftershock/results/v1"
    assert results["passed"] is True and results["complete"] is True
    (trial,) = results["trials"]
    (fault,) = trial["faults"]
    for key in (
        "kind",
        "target",
        "injected_at",
        "cleared_at",
        "time_to_impact",
        "recovered_at",
        "recovery_time",
        "outage",
        "resolution",
    ):
        assert key in fault
    assert fault["target"] == "api->db"
    assert fault["time_to_impact"] is not None, "the fault must visibly hurt the resilient API too"
    assert fault["cleared_at"] - fault["injected_at"] == pytest.approx(
        {"db-latency": 10, "db-down": 8}[scenario], abs=0.1
    )
    assert {v["expectation"] for v in results["verdicts"]} >= {"recovery_time", "recovered"}
    # every request is in the ledger, and every acknowledged create is in the database
    records = list(read_records(shard_paths(run_dir / "trial-1")))
    assert len(records) == trial["load"]["requests"] > 1000
    acked = {r.key for r in records if r.op == "create_order" and r.outcome == "ok"}
    audit = audit_documents(run_dir / "trial-1")
    orders = {e["key"] for e in audit["api"]["effects"] if e["kind"] == "order"}
    assert acked and acked <= orders
    assert trial["consistency"]["lost"] == 0 and trial["consistency"]["writes"] == len(
        {r.key for r in records if r.op == "create_order"}
    )
    events = [json.loads(line)["event"] for line in (run_dir / "journal.jsonl").read_text().splitlines()]
    for kind in (
        "run_started",
        "service_up",
        "load_started",
        "fault_injected",
        "fault_cleared",
        "load_stopped",
    ):
        assert kind in events
    assert leftovers(results["run_id"]) == []


def test_recovery_time_matches_a_known_delay_within_resolution(tmp_path: Path) -> None:
    scenario = groundtruth_scenario(tmp_path, delay=3, expect={"recovery_time": "<= 4s"})
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = latest_run(tmp_path / "out")
    results = results_of(run_dir)
    fault = results["trials"][0]["faults"][0]
    back, truly_recovered = truth_from_log(run_dir, results["t0_ns"])
    assert 3.0 <= truly_recovered - back <= 3.3  # logged at the first request after D
    res = fault["resolution"]["recovery_time"]
    assert res <= 0.3
    assert abs(fault["recovered_at"] - truly_recovered) <= res
    assert abs(fault["recovery_time"] - (truly_recovered - fault["cleared_at"])) <= res


def test_recovery_expectation_fails_when_the_system_is_too_slow(tmp_path: Path) -> None:
    scenario = groundtruth_scenario(tmp_path, delay=6, expect={"recovery_time": "<= 4s"}, duration="24s")
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL  recovery_time" in proc.stdout
    results = results_of(latest_run(tmp_path / "out"))
    (verdict,) = results["verdicts"]
    assert verdict["passed"] is False
    assert verdict["measured"] == pytest.approx(6.0, abs=0.3)
    assert verdict["margin"] < 0
    # the report regenerated from the run directory alone gives the same verdicts
    run_dir = latest_run(tmp_path / "out")
    (run_dir / "results.json").unlink()
    again = aftershock("report", str(run_dir))
    assert again.returncode == 1, again.stdout + again.stderr
    regenerated = results_of(run_dir)
    assert regenerated["verdicts"] == results["verdicts"]
    assert regenerated["trials"] == results["trials"]


def test_never_recovering_fails_recovered_and_error_rate(tmp_path: Path) -> None:
    scenario = groundtruth_scenario(
        tmp_path,
        delay=60,
        duration="16s",
        expect={
            "recovered": True,
            "recovery_time": "<= 10s",
            "error_rate_during_fault": "<= 0.01",
            "time_to_impact": ">= 1s",
        },
    )
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = results_of(latest_run(tmp_path / "out"))
    by_name = {v["expectation"]: v for v in results["verdicts"]}
    assert by_name["recovered"]["passed"] is False
    assert by_name["recovery_time"]["measured_text"] == "not recovered"
    assert by_name["error_rate_during_fault"]["passed"] is False
    assert by_name["error_rate_during_fault"]["measured"] > 0.9
    assert by_name["time_to_impact"]["passed"] is False  # impact was immediate


def _start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "harness.cli", *args],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_event(out: Path, event: str, timeout: float = 300) -> Path:
    """The run's journal has ``event``. The bound only catches a hang: on a busy machine the
    orders target took over 60 s to come up (the suite failed on that, not on aftershock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [p for p in out.glob("*/journal.jsonl")]
        if runs and f'"event": "{event}"' in runs[0].read_text():
            return runs[0].parent
        time.sleep(0.1)
    raise AssertionError(f"no {event} within {timeout}s")


def test_ctrl_c_during_load_clears_everything_and_keeps_what_was_measured(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(["run", "scenarios/db-down.yaml", "--out", str(out)])
    run_dir = _wait_for_event(out, "fault_injected")
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "INTERRUPTED" in stdout
    assert "Interrupted: None" not in stderr and "Interrupted: interrupted by SIGINT" in stderr
    assert (run_dir / "postmortem.md").read_text().startswith("# Post-mortem draft: db-down (INTERRUPTED)")
    results = results_of(run_dir)
    assert results["interrupted"] is True and results["passed"] is False
    (fault,) = results["trials"][0]["faults"]
    assert fault["time_to_impact"] is not None  # the impact was measured before the interrupt
    journal = (run_dir / "journal.jsonl").read_text()
    assert '"forced": true' in journal  # the fault was cleared on the way out
    assert len(list(read_records(shard_paths(run_dir / "trial-1")))) > 0
    assert leftovers(results["run_id"]) == []


def test_sigkilled_harness_leaves_leftovers_that_cleanup_removes(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(["run", "scenarios/db-latency.yaml", "--out", str(out)])
    run_dir = _wait_for_event(out, "load_started")
    run_id = run_dir.name
    scratch = sorted(Path(tempfile.gettempdir()).glob(f"aftershock-{run_id}-*"))
    assert {p.name.split("-")[4] for p in scratch} == {"db", "api", "worker", "payments"}
    # while the harness lives, a scoped cleanup leaves it alone, and --all --dry-run only lists it
    assert run_id not in aftershock("cleanup", "--run", run_id).stdout
    listed = aftershock("cleanup", "--run", run_id, "--all", "--dry-run")
    assert listed.returncode == 0, listed.stderr
    assert "would stop pid" in listed.stdout and "4 leftover directories" in listed.stdout
    assert leftovers(run_id) and all(p.exists() for p in scratch)
    proc.kill()
    proc.communicate(timeout=10)
    # Any run on this host may sweep the dead run first (that is the backstop working); what
    # counts is that afterwards nothing of it is left: processes, nor the scratch directories.
    cleaned = aftershock("cleanup", "--run", run_id)
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    deadline = time.monotonic() + 10
    while leftovers(run_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftovers(run_id) == []
    assert [p for p in scratch if p.exists()] == [], "the run's scratch directories (39 MB of Postgres)"


@pytest.mark.parametrize(
    ("fault", "delay"),
    [
        ({"kind": "crash", "service": "dep", "at": "4s", "duration": "3s"}, 1.0),
        ({"kind": "crash", "service": "app", "at": "4s", "duration": "2s"}, 0.0),
        ({"kind": "pause", "service": "app", "at": "4s", "duration": "3s"}, 0.0),
        ({"kind": "partition", "groups": [["app"], ["dep"]], "at": "4s", "duration": "3s"}, 1.0),
    ],
    ids=["crash-dependency", "crash-entrypoint", "pause-entrypoint", "partition"],
)
def test_service_faults_hurt_and_the_system_recovers(
    fault: dict[str, Any], delay: float, tmp_path: Path
) -> None:
    scenario = groundtruth_scenario(
        tmp_path,
        delay=delay,
        fault=fault,
        duration="16s",
        expect={"recovered": True, "time_to_impact": "<= 1.5s"},
    )
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run_dir = latest_run(tmp_path / "out")
    results = results_of(run_dir)
    (measured,) = results["trials"][0]["faults"]
    assert measured["time_to_impact"] is not None
    # the outage lasts at least as long as the fault itself, and recovery includes the known delay
    assert measured["outage"] >= 2.0 - measured["resolution"]["outage"]
    assert measured["recovery_time"] >= delay - measured["resolution"]["recovery_time"]
    journal = (run_dir / "journal.jsonl").read_text()
    if fault["kind"] == "crash":
        starts = [json.loads(line) for line in journal.splitlines() if '"service_starting"' in line]
        assert [e["service"] for e in starts].count(fault["service"]) == 2  # started, then restarted
    assert leftovers(results["run_id"]) == []


def test_sigterm_after_the_terminal_is_gone_still_tears_everything_down(tmp_path: Path) -> None:
    """The parent (a CI runner, a terminal) died: every write to stdout/stderr fails. Teardown must not."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", "scenarios/db-down.yaml", "--out", str(out)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    run_dir = _wait_for_event(out, "load_started")
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    proc.stderr.close()  # from now on every print of the harness gets EPIPE
    time.sleep(1.5)  # a progress line or two fail meanwhile
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    journal = (run_dir / "journal.jsonl").read_text()
    assert '"event": "teardown_done"' in journal
    assert leftovers(run_dir.name) == []
    assert results_of(run_dir)["interrupted"] is True


def test_trials_each_on_a_fresh_target_and_a_distribution_expectation(tmp_path: Path) -> None:
    scenario = groundtruth_scenario(
        tmp_path, delay=2, duration="14s", expect={"recovery_time": {"median": "<= 4s", "max": "<= 1s"}}
    )
    proc = aftershock("run", str(scenario), "--trials", "2", "--out", str(tmp_path / "out"), "--quiet")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    results = results_of(latest_run(tmp_path / "out"))
    assert [t["trial"] for t in results["trials"]] == [1, 2]
    (mttr,) = results["mttr"]
    assert mttr["trials"] == 2 and 1.5 < mttr["median"] < 2.8
    by = {v["expectation"]: v for v in results["verdicts"]}
    assert by["recovery_time.median"]["passed"] and not by["recovery_time.max"]["passed"]
    journal = (latest_run(tmp_path / "out") / "journal.jsonl").read_text()
    assert journal.count('"event": "toxiproxy_up"') == 2  # a fresh target (and Toxiproxy) per trial
