"""Rollback rehearsals on the real orders target: redeploy, feature flag, a user's slow command."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, aftershock, latest_run, leftovers, results_of

pytestmark = pytest.mark.integration
SLOW_SCRIPT = REPO / "tests" / "fixtures" / "rollback" / "slow_flag_off.py"


def run(scenario: Path, tmp_path: Path) -> tuple[int, str, dict[str, Any]]:
    proc = aftershock("run", str(scenario), "--out", str(tmp_path / "out"), "--quiet")
    results = results_of(latest_run(tmp_path / "out"))
    assert leftovers(results["run_id"]) == []
    jsonschema.validate(results, json.loads((REPO / "docs" / "results-schema.json").read_text()))
    return proc.returncode, proc.stdout + proc.stderr, results


def journal(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "journal.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(("name", "expected_code"), [("bad-deploy-rollback", 1), ("bad-flag-rollback", 0)])
def test_shipped_rollback_scenarios_revert_in_time_and_judge_the_damage_left(
    name: str, expected_code: int, tmp_path: Path
) -> None:
    """Both reverts pass; the damage v2 / the flag wrote stays. bad-deploy-rollback keeps the
    default (data_restored: a restored service with damaged data is not a recovery) and fails on
    that alone; bad-flag-rollback states data_restored: false and passes, reporting the damage."""
    code, output, results = run(REPO / "scenarios" / f"{name}.yaml", tmp_path)
    assert code == expected_code, output
    failed = {v["expectation"] for v in results["verdicts"] if not v["passed"]}
    assert failed == ({"data_restored"} if expected_code else set()), output
    (trial,) = results["trials"]
    rb = trial["rollback"]
    assert rb["action_ok"] and rb["confirmed_at"] is not None
    (deploy,) = trial["faults"]
    # DESIGN "Deploy window": impact counts from deploy_started, so the detection also spans the
    # stop-start of the deploy; the policy then waits 3 s of SLO violation once v2 answers
    events = journal(latest_run(tmp_path / "out"))
    started = next(e for e in events if e["event"] == "deploy_started" and e["version"] == "v2")
    returned = next(e for e in events if e["event"] == "fault_injected")
    assert deploy["injected_at"] == pytest.approx(started["t"], abs=0.005)
    assert returned["t"] - deploy["injected_at"] > 0.1  # the new version answered later
    assert 2.5 <= rb["detection_to_rollback"] <= rb["triggered_at"] - deploy["injected_at"] + 1e-6
    assert rb["triggered_at"] > returned["t"]  # armed once v2 is in place, after 3 s of violation
    assert rb["rollback_duration"] is not None and rb["rollback_duration"] < 10
    assert not rb["escalated"] and not results["escalation"]["needs_human"]
    assert deploy["kind"] == "deploy" and deploy["time_to_impact"] is not None  # v2 hurt
    assert deploy["cleared_at"] >= rb["triggered_at"]
    # v2 wrote wrong amounts: the rollback restored service, not the data, and the report says so
    assert rb["data_after_rollback"]["corrupted"] > 0 and not rb["data_after_rollback"]["clean"]
    assert "data NOT" in output


def scenario_with(tmp_path: Path, rollback: dict[str, Any], expect: dict[str, Any], duration: str) -> Path:
    """The shipped flag rollback with another rollback, judged on it alone, and only as much
    load as the rollback needs (the shipped 30 s is for a human watching)."""
    doc = yaml.safe_load((REPO / "scenarios" / "bad-flag-rollback.yaml").read_text())
    doc["target"] = {"name": str(REPO / "targets" / "orders")}
    doc["load"]["duration"] = duration
    doc["rollback"] = rollback
    doc["expect"] = {"data_restored": False, **expect}  # these judge the revert alone
    path = tmp_path / "rollback.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_slow_rollback_command_misses_rollback_duration_with_the_measured_value(tmp_path: Path) -> None:
    rollback = {
        "trigger": "automatic",
        "after_unhealthy": "3s",
        "action": {"command": {"run": ["{python}", str(SLOW_SCRIPT), "6"], "timeout": "30s"}},
        "confirm": {"service": "api", "path": "/health", "expect": {"flags": {"new_pricing": False}}},
    }
    # v2 at 5 s, the trigger ~3 s of SLO violation later, 6 s of command, then a 3 s hold: ~19 s
    path = scenario_with(tmp_path, rollback, {"rollback_duration": "<= 3s"}, duration="24s")
    code, output, results = run(path, tmp_path)
    assert code == 1, output
    (verdict,) = results["verdicts"]
    assert verdict["expectation"] == "rollback_duration" and not verdict["passed"]
    assert verdict["measured"] >= 6.0  # the command slept 6 s before it switched the flag off
    assert verdict["margin"] <= -3.0
    assert "FAIL  rollback_duration" in output


def test_a_failing_rollback_command_is_no_rollback_and_escalates(tmp_path: Path) -> None:
    rollback = {
        "trigger": "manual",
        "at": "10s",
        "action": {"command": {"run": ["{python}", "-c", "raise SystemExit('deploy tool unavailable')"]}},
        "confirm": {"service": "api", "expect": {"flags": {"new_pricing": False}}},
        "budget": "2s",
    }
    # the rollback is tried at 10 s and fails at once: nothing after it is waited for
    path = scenario_with(tmp_path, rollback, {"rollback_duration": "<= 5m"}, duration="14s")
    code, output, results = run(path, tmp_path)
    assert code == 1, output
    rb = results["trials"][0]["rollback"]
    assert not rb["action_ok"] and rb["rollback_duration"] is None
    assert results["escalation"]["needs_human"]
    assert "deploy tool unavailable" in (results["trials"][0]["rollback"]["note"] + output)
    assert "ESCALATE" in output
