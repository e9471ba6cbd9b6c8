"""A rollback restores the service, not the data: damage left after it fails the run by default."""

from __future__ import annotations

import json
from pathlib import Path

from harness.errors import ExitCode
from harness.measure.verdicts import judge_data_restored
from harness.scenario.models import Expectations

DAMAGE = {"lost": 0, "duplicated": 0, "corrupted": 182}


def test_damage_left_after_a_rollback_fails_by_default() -> None:
    (v,) = judge_data_restored(Expectations(), 1, True, DAMAGE)
    assert not v.passed and v.expectation == "data_restored"
    assert v.measured == 182 and v.measured_text == "182 corrupted remain"


def test_a_clean_rollback_passes_and_a_stated_false_reports_without_gating() -> None:
    (v,) = judge_data_restored(Expectations(), 1, True, {"lost": 0, "duplicated": 0, "corrupted": 0})
    assert v.passed and v.measured_text == "clean"
    assert judge_data_restored(Expectations(data_restored=False), 1, True, DAMAGE) == []


def test_without_a_rollback_or_a_contract_nothing_is_judged_unless_asked() -> None:
    assert judge_data_restored(Expectations(), 1, False, DAMAGE) == []
    assert judge_data_restored(Expectations(), 1, True, None) == []
    (v,) = judge_data_restored(Expectations(data_restored=True), 1, False, DAMAGE)
    assert not v.passed


def test_a_run_whose_data_stays_damaged_is_not_passed(tmp_path: Path) -> None:
    """Through the analysis of a run directory: one corrupted write, data_restored asked for."""
    from harness.analysis import analyse_run
    from tests.unit.test_audit import _run_dir_with_audit

    effects = [
        {"kind": "order", "key": "k1", "id": "o-k1", "value": 100, "status": "confirmed"},
        {"kind": "order", "key": "k2", "id": "o-k2", "value": 90, "status": "confirmed"},
    ]
    run_dir = _run_dir_with_audit(tmp_path, {"effects": effects, "pending": 0})
    scenario = run_dir / "scenario.yaml"
    scenario.write_text(scenario.read_text().replace("expect:\n", "expect:\n  data_restored: true\n"))
    results, _ = analyse_run(run_dir)
    (v,) = [v for v in results.verdicts if v.expectation == "data_restored"]
    assert not v.passed and v.measured_text == "1 corrupted remain"
    assert results.exit_code() == ExitCode.EXPECTATION_MISSED
    assert json.loads(results.to_json())["expect"]["data_restored"] is True
