"""The harness watches its own parts: a Toxiproxy or Locust that dies mid-trial is a harness
failure (exit 3, journaled with component and time), never a verdict about the target.

Each test kills the run's real Toxiproxy with SIGKILL at a journaled moment of a real rehearsal
on the ground-truth target (a short load), exactly as an OOM killer or a crash would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, latest_run, leftovers, results_of

pytestmark = pytest.mark.integration
GROUNDTRUTH = REPO / "targets" / "groundtruth"


def _scenario(tmp_path: Path, *, duration: str = "12s") -> Path:
    doc = {
        "name": "groundtruth-watchdog",
        "target": {"name": str(GROUNDTRUTH), "env": {"app": {"GT_RECOVERY_DELAY": "1"}}},
        "load": {"users": 4, "rate_per_user": 10, "duration": duration, "request_timeout": "1s"},
        "slo": {"window": "1s", "step": "100ms", "success_rate": 0.99, "hold": "2s"},
        "faults": [{"kind": "down", "link": "app->dep", "at": "3s", "duration": "3s"}],
        "expect": {"recovery_time": "<= 10s"},
    }
    path = tmp_path / "watchdog.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _journal(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "journal.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def _wait_for(out: Path, event: str, proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for journal in out.glob("*/journal.jsonl"):
            for e in _journal(journal.parent):
                if e["event"] == event:
                    return e
        if proc.poll() is not None:
            raise AssertionError(f"the run ended before {event}: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError(f"no {event} within {timeout}s")


def _run_and_kill_toxiproxy(tmp_path: Path, after: str) -> tuple[int, str, Path, float]:
    """Start a rehearsal, SIGKILL its Toxiproxy once ``after`` is journaled; return the exit code,
    the output, the run dir and the kill instant (run clock, seconds since the run's start)."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(_scenario(tmp_path)), "--out", str(out)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        up = _wait_for(out, "toxiproxy_up", proc)
        started = _wait_for(out, "run_started", proc)
        _wait_for(out, after, proc)
        killed_ns = time.monotonic_ns()
        os.kill(int(up["pid"]), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, stdout + stderr, latest_run(out), (killed_ns - started["t0_ns"]) / 1e9


@pytest.mark.parametrize("after", ["fault_injected", "fault_cleared"])
def test_toxiproxy_killed_mid_trial_is_a_harness_failure_not_a_verdict(tmp_path: Path, after: str) -> None:
    code, output, run_dir, killed_at = _run_and_kill_toxiproxy(tmp_path, after)
    assert code == 3, output
    results = results_of(run_dir)

    # journaled: which component, when, and what happened to it
    (failed,) = [e for e in _journal(run_dir) if e["event"] == "harness_failed"]
    assert failed["component"] == "toxiproxy"
    assert failed["trial"] == 1
    assert "SIGKILL" in failed["detail"]
    assert killed_at <= failed["t"]  # detected after the kill, never before
    assert failed["last_alive_ns"] <= failed["t_ns"]

    # the trial has no verdict about the target, and the output says what failed and when
    assert results["passed"] is False
    assert results["verdicts"] == []
    (trial,) = results["trials"]
    assert trial["harness_failure"]["component"] == "toxiproxy"
    assert trial["harness_failure"]["last_alive"] <= trial["harness_failure"]["at"]
    assert trial["faults"] == []
    assert "Toxiproxy died at t=" in output
    assert "ESCALATE" not in output and "not recovered" not in output
    assert "PASS" not in output.replace("PASSED", "")
    assert not leftovers(results["run_id"])


def test_a_death_between_two_looks_is_still_seen_after_a_clear_restarted_toxiproxy(
    toxiproxy_binary: Path, tmp_path: Path
) -> None:
    """The clear of a fault restarts a Toxiproxy that does not answer; the watchdog must learn of
    the death even when it happened after its last look (the 'silently restarted' case)."""
    from harness.errors import HarnessFailure
    from harness.events import EventBus, HarnessFailed
    from harness.faults.link import LinkFault, link_effect
    from harness.guards.watchdog import ToxiproxyWatch, Watchdog
    from harness.scenario.models import DownFault
    from harness.toxiproxy.proxies import LinkProxies
    from harness.toxiproxy.server import ToxiproxyServer

    seen: list[Any] = []
    bus = EventBus()
    bus.subscribe(seen.append)
    t0 = time.monotonic_ns()
    with ToxiproxyServer(toxiproxy_binary, tmp_path / "toxiproxy.log") as server:
        proxies = LinkProxies(server, "test")
        proxies.create("app->dep", "127.0.0.1:9")
        dog = Watchdog([ToxiproxyWatch(server, t0)], bus, trial=1, t0_ns=t0)
        dog.check(force=True)  # alive
        down = DownFault(kind="down", link="app->dep", at=0, duration=1)
        fault = LinkFault(link_effect(down), proxies, "f")
        fault.__enter__()
        assert server.pid is not None
        os.kill(server.pid, signal.SIGKILL)
        fault.__exit__(None, None, None)  # cannot reach Toxiproxy: restarts it, clean and alive
        assert server.exited() is None
        with pytest.raises(HarnessFailure, match=r"Toxiproxy died at t=.*SIGKILL.*restarted it"):
            dog.check(force=True)
    (event,) = [e for e in seen if isinstance(e, HarnessFailed)]
    assert event.component == "toxiproxy"
    assert event.at_ns is not None and dog.last_alive_ns <= event.at_ns <= server.restarts[0][0]
    assert event.at_ns <= event.t_ns


def test_locust_killed_mid_trial_is_a_harness_failure(tmp_path: Path) -> None:
    from tests.conftest import processes_with_env

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(_scenario(tmp_path)), "--out", str(out)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(out, "fault_injected", proc)
        trial_dir = latest_run(out) / "trial-1"
        for pid in processes_with_env("AFTERSHOCK_LEDGER_DIR", str(trial_dir)):
            os.kill(pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3, stdout + stderr
    run_dir = latest_run(out)
    (failed,) = [e for e in _journal(run_dir) if e["event"] == "harness_failed"]
    assert failed["component"] == "locust"
    results = results_of(run_dir)
    assert results["verdicts"] == [] and results["trials"][0]["harness_failure"]["component"] == "locust"
    assert "Locust died at t=" in stdout + stderr
    assert not leftovers(results["run_id"])


@pytest.mark.docker
def test_toxiproxy_container_killed_mid_fault_is_a_harness_failure(tmp_path: Path) -> None:
    """The same on the Docker backend: the run's Toxiproxy is a container, killed by the engine."""
    from harness.docker.engine import RUN_LABEL, container_name, docker_client
    from harness.errors import InfrastructureError

    try:
        engine = docker_client()
    except InfrastructureError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Docker engine answers:\n{exc}")
        pytest.skip(f"no Docker engine: {str(exc).splitlines()[0]}")
    scenario = _scenario(tmp_path)
    doc = yaml.safe_load(scenario.read_text())
    scenario.write_text(yaml.safe_dump({**doc, "backend": "docker", "startup_timeout": "240s"}))
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness.cli", "run", str(scenario), "--out", str(out)],
        cwd=REPO,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "AFTERSHOCK_OFFLINE": os.environ.get("AFTERSHOCK_OFFLINE", "1")},
    )
    try:
        run_id = _wait_for(out, "run_started", proc)["run_id"]
        _wait_for(out, "fault_injected", proc, timeout=400)
        engine.containers.get(container_name(run_id, "toxiproxy")).kill()  # SIGKILL
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    try:
        assert proc.returncode == 3, stdout + stderr
        run_dir = latest_run(out)
        (failed,) = [e for e in _journal(run_dir) if e["event"] == "harness_failed"]
        assert failed["component"] == "toxiproxy"
        assert "exited" in failed["detail"] and "SIGKILL" in failed["detail"], failed["detail"]
        results = results_of(run_dir)
        assert results["verdicts"] == [] and results["trials"][0]["faults"] == []
        assert "Toxiproxy died at t=" in stdout + stderr
        assert engine.containers.list(all=True, filters={"label": f"{RUN_LABEL}={run_id}"}) == []
    finally:
        engine.close()
