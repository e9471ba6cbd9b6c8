"""postmortem.md: written for every run kind, every figure one of results.json (issue 14)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.report import REPORT_FILES, write_reports
from harness.report.postmortem import render_postmortem
from harness.results import Results
from tests.unit.test_reports import interrupted, synthetic_run, typed

ROLLBACK = {
    "triggered_at": 12.0,
    "reason": "manual at 12s",
    "action": "redeploy",
    "action_ok": True,
    "action_duration": 1.25,
    "confirmed_at": 13.25,
    "recovered_at": 15.5,
    "rollback_duration": 3.5,
    "detection_to_rollback": 2.0,
    "impact_at": 10.0,
    "resolution": 0.2,
    "budget": 300.0,
    "escalated": False,
    "note": "",
    "data_after_rollback": {"lost": 0, "duplicated": 0, "corrupted": 182, "clean": False},
}
AS_RUN = {
    "mode": "fragile",
    "trials": 1,
    "seed": 1,
    "backend": "process",
    "overrides": {"mode": "fragile"},
    "owner": "payments team",
    "runbook": "https://runbooks.example/payments-db",
}


def _kinds() -> dict[str, dict[str, Any]]:
    plain, _ = synthetic_run()
    failing, _ = synthetic_run({"recovery_time": "<= 1s", "duplicate_writes": "<= 0"})
    failing = copy.deepcopy(failing)
    failing["trials"][0]["consistency"] = {
        "writes": 2900,
        "acknowledged": 2300,
        "duplicated": 374,
        "examples": {"duplicated": ["order-17 (2 rows)", "order-92 (2 rows)"]},
    }
    failing["verdicts"].append(
        {
            "expectation": "duplicate_writes",
            "trial": 1,
            "fault": "data",
            "target": "<= 0",
            "measured": 374,
            "measured_text": "374",
            "passed": False,
            "margin": -374,
        }
    )
    failing["as_run"] = AS_RUN
    multi, _ = synthetic_run({"recovery_time": "<= 3s"}, trials=3, delays=(1.0, 2.5, 4.0))
    rollback = copy.deepcopy(plain)
    rollback["trials"][0]["rollback"] = ROLLBACK
    harness_failed = copy.deepcopy(plain)
    harness_failed["trials"][0]["harness_failure"] = {
        "component": "toxiproxy",
        "detail": "the proxy api->db vanished",
        "at": 12.5,
    }
    harness_failed.update(error="trial 1: toxiproxy failed", complete=False, passed=False)
    errored = dict(plain, error="InfrastructureError: the target never became ready", trials=[], verdicts=[])
    errored.update(complete=False, passed=False)
    return {
        "plain": plain,
        "failing": failing,
        "multi-trial": multi,
        "rollback": rollback,
        "interrupted": interrupted(plain),
        "harness failure": harness_failed,
        "error before any trial": errored,
    }


def _numbers(doc: Any) -> list[float]:
    """Every number in results.json, including those inside its strings ("<= 4s", "manual at 12s")."""
    out: list[float] = []
    if isinstance(doc, bool):
        return out
    if isinstance(doc, int | float):
        out += [float(doc), float(doc) * 100]  # a share is printed as a percentage
    elif isinstance(doc, str):
        out += [float(x) for x in re.findall(r"\d+(?:\.\d+)?", doc)]
    elif isinstance(doc, dict):
        for v in doc.values():
            out += _numbers(v)
    elif isinstance(doc, list):
        for v in doc:
            out += _numbers(v)
    return out


def _derived(results: Results) -> list[float]:
    """The few sums the text states: failed requests (definite + no clear answer), over trials."""
    loads = [t.load for t in results.trials if t.load]
    out = [float(sum(x.requests for x in loads)), float(sum(x.fail + x.indeterminate for x in loads))]
    out += [float(x.fail + x.indeterminate) for x in loads]
    out += [sum(f.outage for f in t.faults) for t in results.trials]
    misses = [v for v in results.verdicts if not v.passed]
    out += [float(len(misses) - 1), float(len(results.trials))]
    return out


def _matches(text: str, candidates: list[float]) -> bool:
    value = float(text.replace(",", ""))
    decimals = len(text.split(".")[1]) if "." in text else 0
    return any(abs(round(c, decimals) - value) <= 10**-decimals / 2 + 1e-9 for c in candidates)


@pytest.mark.parametrize("kind", list(_kinds()))
def test_every_figure_of_the_postmortem_is_one_of_results_json(kind: str) -> None:
    doc = _kinds()[kind]
    results = typed(doc)
    text = render_postmortem(results)
    assert text.startswith("# Post-mortem draft: db-down")
    for section in (
        "## Summary",
        "## Timeline",
        "## Impact",
        "## What went well",
        "## What went wrong",
        "## Action items",
    ):
        assert section in text, (kind, section)
    candidates = _numbers(json.loads(results.to_json())) + _derived(results)
    prose = re.sub(r"`[^`]*`", "", text)  # run ids and example keys are quoted, not figures
    prose = prose.replace("down@api->db", "")
    for figure in re.findall(r"\d[\d,]*(?:\.\d+)?", prose):
        assert _matches(figure, candidates), f"{kind}: {figure} is not a figure of results.json"


def test_postmortem_has_one_action_item_per_missed_expectation_with_owner_and_runbook() -> None:
    text = render_postmortem(typed(_kinds()["failing"]))
    assert "- Owner: payments team" in text
    assert "[https://runbooks.example/payments-db](https://runbooks.example/payments-db)" in text
    items = [line for line in text.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(items) == 2
    assert "recovery took 2.0 s, the target was 1 s" in items[0]
    assert "374 writes applied more than once under down@api->db" in items[1]
    assert "`order-17 (2 rows)`" in items[1]
    assert all(line.endswith("| payments team |") for line in items)


def test_postmortem_timeline_and_rollback() -> None:
    text = render_postmortem(typed(_kinds()["rollback"]))
    assert "| 12.000 s | exact (journal) | rollback triggered (manual at 12s; redeploy) |" in text
    assert "| 15.5 s | ±0.2 s | recovered after the rollback |" in text
    assert "SERVICE RESTORED, DATA NOT: 182 corrupted writes remain" in text
    assert "the rollback restored the service, not the data: 0 lost, 0 duplicated, 182 corrupted" in text


def test_postmortem_of_a_harness_failure_says_no_verdict_about_the_target() -> None:
    text = render_postmortem(typed(_kinds()["harness failure"]))
    assert "the harness failed (toxiproxy: the proxy api->db vanished); no verdict about the target" in text


def test_write_reports_writes_the_postmortem(tmp_path: Path) -> None:
    plain = typed(_kinds()["plain"])
    written = write_reports(tmp_path, plain, [])
    assert "postmortem.md" in REPORT_FILES
    assert tmp_path / "postmortem.md" in written


def test_the_detection_line_quotes_the_measured_time_to_detect() -> None:
    """The post-mortem reads the ops-view detection figures (it used to say none was measured)."""
    from harness.report.postmortem import _detection
    from harness.results import FaultResult, Results, TrialResult
    from harness.results.operations import DetectionResolution, DetectionResult

    res = DetectionResolution(time_to_detect=0.01, time_to_resolve=0.011)
    d = DetectionResult.model_construct(
        time_to_detect=0.31, time_to_resolve=1.03, symptom=True, resolution=res
    )
    f = FaultResult.model_construct(label="down@worker->payments", detection=d)
    results = Results.model_construct(trials=[TrialResult.model_construct(trial=1, faults=[f])])
    (line,) = _detection(results)
    assert line == (
        "Detection (down@worker->payments): first alert 0.31 s ±0.01 s after the first impact; "
        "a symptom alert fired; resolved 1.03 s ±0.01 s after recovery."
    )
    none = Results.model_construct(trials=[TrialResult.model_construct(trial=1, faults=[])])
    assert _detection(none) == [
        "Detection: the scenario names no monitoring, so no detection instant was measured."
    ]
