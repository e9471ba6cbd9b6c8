"""The reports: JUnit counts, the results.json schema, summary.md, report.html, the index.

Everything here is built from synthetic ledgers whose answer is known (requests every 10 ms,
failing while a fault is active and for a known time after it), pushed through the real
measurement code (health timeline, fault measurement, verdicts), so the reports are checked on
results shaped exactly as ``harness.analysis`` shapes them. One test writes a tiny run
directory by hand (journal, scenario copy, ledger shard) and regenerates every report from it
with ``analyse_run``, as ``aftershock report RUN_DIR`` does.
"""

from __future__ import annotations

import copy
import importlib
import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analysis import TrialAnalysis, analyse_run
from harness.load.ledger import LedgerRecord, LedgerWriter
from harness.measure.health import HealthPolicy, evaluate_health
from harness.measure.recovery import measure_fault
from harness.measure.samples import RequestSamples
from harness.measure.verdicts import judge_fault
from harness.report import (
    REPORT_FILES,
    consistency_rows,
    headline,
    mttr_stats,
    plain_bound,
    write_reports,
)
from harness.report.html import render_html, write_html
from harness.report.index import write_index
from harness.report.junit import render_junit, write_junit
from harness.report.markdown import render_summary, write_summary
from harness.report.plots import bin_samples, choose_bin_width
from harness.results import ConsistencyResult, FaultResult, LoadResult, Results
from harness.scenario.models import Expectations


def typed(results: dict[str, Any]) -> Results:
    """The results.json document as the model every reporter reads."""
    return Results.model_validate(results)


REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO / "docs" / "results-schema.json"
FAULT_LABEL = "down@api->db"
POLICY = HealthPolicy(window=1.0, step=0.1, success_rate=0.99, hold=3.0)
SLO_JSON = {
    "window": 1.0,
    "step": 0.1,
    "success_rate": 0.99,
    "p95_latency": None,
    "p99_latency": None,
    "hold": 3.0,
}


# -- synthetic runs ------------------------------------------------------------------------------


def synthetic_trial(
    trial: int, expect: dict[str, Any], recovery_delay: float = 2.0, offset: float = 0.0
) -> tuple[dict[str, Any], TrialAnalysis]:
    """A 30 s trial: a request every 10 ms; fault 10-14 s; failures until 14 s + ``recovery_delay``."""
    start, stop = offset + 0.5, offset + 30.5
    end = start + np.arange(1, 3000 + 1) * 0.01
    injected, cleared = offset + 10.0, offset + 14.0
    ok = ~((end >= injected) & (end < cleared + recovery_delay))
    samples = RequestSamples.from_arrays(end - 0.005, end, ok)
    timeline = evaluate_health(samples, POLICY, start, stop)
    m = measure_fault(timeline, samples, injected, cleared)
    verdicts = judge_fault(Expectations.model_validate(expect), trial, FAULT_LABEL, m)
    fault = {"index": 0, "kind": "down", "target": "api->db", "label": FAULT_LABEL, **m.to_dict()}
    n_ok = int(ok.sum())
    load = {
        "started_at": start,
        "stopped_at": stop,
        "requests": len(samples),
        "ok": n_ok,
        "fail": len(samples) - n_ok,
        "indeterminate": 0,
    }
    analysis = TrialAnalysis(
        trial,
        samples,
        timeline,
        start,
        stop,
        [FaultResult.model_validate(fault)],
        verdicts,
        LoadResult.model_validate(load),
    )
    return {"trial": trial, "load": load, "faults": [fault]}, analysis


def synthetic_run(
    expect: dict[str, Any] | None = None, trials: int = 1, delays: tuple[float, ...] = (2.0,)
) -> tuple[dict[str, Any], list[TrialAnalysis]]:
    """Results shaped exactly as ``analyse_run`` shapes them, with the analyses behind them."""
    expect = {"recovery_time": "<= 4s"} if expect is None else expect
    trials_out, analyses = [], []
    for n in range(1, trials + 1):
        t, a = synthetic_trial(n, expect, delays[(n - 1) % len(delays)], offset=(n - 1) * 31.0)
        trials_out.append(t)
        analyses.append(a)
    verdicts = [v for a in analyses for v in a.verdicts]
    passed = all(v.passed for v in verdicts)
    reasons = [
        f"trial {t['trial']}: {f['label']} did not recover"
        for t in trials_out
        for f in t["faults"]
        if not f["recovered"]
    ]
    results = {
        "schema": "aftershock/results/v1",
        "run_id": "20261121-120000-abcd",
        "scenario": "db-down",
        "scenario_file": "/somewhere/scenarios/db-down.yaml",
        "description": "The database is unreachable for 4 s.",
        "target": "orders",
        "backend": "process",
        "seed": 1,
        "started_at": "2026-11-21T12:00:00+00:00",
        "clock": "CLOCK_MONOTONIC (time.monotonic_ns, system-wide on Linux)",
        "t0_ns": 1_000_000_000,
        "complete": True,
        "interrupted": False,
        "error": None,
        "passed": passed,
        "slo": SLO_JSON,
        "expect": Expectations.model_validate(expect).model_dump(mode="json", exclude_none=True),
        "trials": trials_out,
        "verdicts": [v.model_dump() for v in verdicts],
        "escalation": {"budget": 180.0, "needs_human": bool(reasons), "reasons": reasons},
        "environment": {
            "aftershock": "0.1.0",
            "python": "3.11.7",
            "toxiproxy": "2.12.0",
            "platform": "Linux",
            "pid": 1,
        },
    }
    return results, analyses


def interrupted(results: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(results)
    out.update(interrupted=True, complete=False, passed=False)
    return out


def junit_counts(xml: bytes) -> tuple[ET.Element, dict[str, int]]:
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite is not None
    return root, {k: int(suite.get(k, "-1")) for k in ("tests", "failures", "errors")}


# -- JUnit ----------------------------------------------------------------------------------------


def test_junit_passing_run_has_one_green_testcase_per_verdict(tmp_path: Path) -> None:
    results, _ = synthetic_run({"recovery_time": "<= 4s", "recovered": True})
    path = write_junit(tmp_path / "junit.xml", typed(results))
    root, counts = junit_counts(path.read_bytes())
    assert counts == {"tests": 2, "failures": 0, "errors": 0}
    assert root.tag == "testsuites" and root.get("tests") == "2"
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "trial 1: recovery_time <= 4s (down@api->db)",
        "trial 1: recovered true (down@api->db)",
    ]
    assert {c.get("classname") for c in cases} == {"db-down"}
    assert not root.findall(".//failure") and not root.findall(".//error")


def test_junit_failing_run_says_measured_and_target() -> None:
    results, _ = synthetic_run({"recovery_time": "<= 1s"}, trials=2)
    assert not results["passed"]
    root, counts = junit_counts(render_junit(typed(results)))
    assert counts == {"tests": 2, "failures": 2, "errors": 0}
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.get("message") == "measured 2.0s, target <= 1s"
    assert "recovery took 2.0 s, the target was 1 s" in (failure.text or "")


def test_junit_interrupted_run_adds_an_error_testcase() -> None:
    results, _ = synthetic_run()
    root, counts = junit_counts(render_junit(typed(interrupted(results))))
    assert counts == {"tests": 2, "failures": 0, "errors": 1}
    errors = root.findall("testsuite/testcase/error")
    assert len(errors) == 1 and errors[0].get("type") == "Interrupted"


def test_junit_errored_run_without_verdicts_is_an_error_not_a_pass() -> None:
    results, _ = synthetic_run()
    broken = copy.deepcopy(results)
    broken.update(trials=[], verdicts=[], complete=False, passed=False, error="service 'db' exited\nlog...")
    root, counts = junit_counts(render_junit(typed(broken)))
    assert counts == {"tests": 1, "failures": 0, "errors": 1}
    error = root.find("testsuite/testcase/error")
    assert error is not None and error.get("message") == "service 'db' exited"


def test_junit_run_without_expectations_still_reports_a_test() -> None:
    results, _ = synthetic_run(expect={})
    _, counts = junit_counts(render_junit(typed(results)))
    assert counts == {"tests": 1, "failures": 0, "errors": 0}


def test_junit_layout_is_the_common_ci_one() -> None:
    """testsuites > testsuite > (properties, testcase*, system-out); counts match the elements."""
    results, _ = synthetic_run({"recovery_time": "<= 1s", "recovered": True}, trials=2, delays=(2.0, 0.5))
    root = ET.fromstring(render_junit(typed(interrupted(results))))
    suites = list(root)
    assert [s.tag for s in suites] == ["testsuite"]
    suite = suites[0]
    tags = [child.tag for child in suite]
    assert tags[0] == "properties" and tags[-1] == "system-out"
    assert set(tags[1:-1]) == {"testcase"}
    cases = suite.findall("testcase")
    assert int(suite.get("tests", "")) == len(cases)
    assert int(suite.get("failures", "")) == sum(1 for c in cases if c.find("failure") is not None)
    assert int(suite.get("errors", "")) == sum(1 for c in cases if c.find("error") is not None)
    for attr in ("time",):
        assert re.fullmatch(r"\d+(\.\d+)?", suite.get(attr, "")), attr
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", suite.get("timestamp", ""))
    for case in cases:
        assert case.get("name") and case.get("classname") == "db-down"
        assert len(list(case)) <= 1


# -- the results.json schema ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_schema_accepts_real_shaped_results(validator: Any) -> None:
    for results in (
        synthetic_run()[0],
        synthetic_run({"recovery_time": "<= 1s", "error_rate_during_fault": "<= 0.5"}, trials=3)[0],
        interrupted(synthetic_run()[0]),
    ):
        assert list(validator.iter_errors(results)) == []


def test_schema_accepts_not_recovered_and_consistency(validator: Any) -> None:
    results, _ = synthetic_run({"recovery_time": "<= 4s"}, delays=(30.0,))
    fault = results["trials"][0]["faults"][0]
    assert fault["recovery_time"] is None and fault["recovered_at"] is None
    results["trials"][0]["consistency"] = {
        "writes": 10,
        "lost": 1,
        "examples": {"lost": ["k-1"]},
        "effects": {},
    }
    assert list(validator.iter_errors(results)) == []


def test_schema_rejects_a_broken_document(validator: Any) -> None:
    results, _ = synthetic_run()
    missing = copy.deepcopy(results)
    del missing["passed"]
    wrong_type = copy.deepcopy(results)
    wrong_type["trials"][0]["faults"][0]["recovery_time"] = "2.0s"
    unknown = copy.deepcopy(results)
    unknown["verdicts"][0]["measurd"] = 1.0
    bad_schema = copy.deepcopy(results)
    bad_schema["schema"] = "aftershock/results/v2"
    for broken in (missing, wrong_type, unknown, bad_schema):
        assert list(validator.iter_errors(broken)), broken


def test_schema_documents_every_field() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    undocumented: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for name, sub in node.get("properties", {}).items():
                target = sub
                if "$ref" in sub and "description" not in sub:
                    target = schema["$defs"][sub["$ref"].rsplit("/", 1)[-1]]
                if "description" not in target:
                    undocumented.append(f"{where}.{name}")
            for key, sub in node.items():
                walk(sub, f"{where}.{key}")
        elif isinstance(node, list):
            for i, sub in enumerate(node):
                walk(sub, f"{where}[{i}]")

    walk(schema, "$")
    assert undocumented == []


# -- summary.md -----------------------------------------------------------------------------------


def test_summary_has_the_headline_and_every_verdict(tmp_path: Path) -> None:
    results, _ = synthetic_run({"recovery_time": "<= 1s", "recovered": True}, trials=2, delays=(2.0, 0.5))
    text = write_summary(tmp_path / "summary.md", typed(results)).read_text(encoding="utf-8")
    assert headline(typed(results)) in text.replace("**", "")
    assert "FAILED: recovery took 2.0 s, the target was 1 s (trial 1, down@api->db)" in text.replace("**", "")
    rows = [line for line in text.splitlines() if "recovery_time" in line or "| recovered |" in line]
    assert len(rows) == len(results["verdicts"]) == 4
    assert "MTTR over trials" in text
    assert "±" in text  # every recovery figure carries its resolution
    assert "http://" not in text and "https://" not in text and "](" not in text


def test_summary_escapes_pipes_in_fault_labels() -> None:
    results, _ = synthetic_run()
    results["verdicts"][0]["fault"] = "partition@api|db"
    assert "partition@api\\|db" in render_summary(typed(results))


# -- report.html ----------------------------------------------------------------------------------


def test_html_is_self_contained_with_verdicts_figures_and_fault_label(tmp_path: Path) -> None:
    results, analyses = synthetic_run({"recovery_time": "<= 1s"}, trials=2, delays=(2.0, 0.5))
    (tmp_path / "scenario.yaml").write_text("name: db-down\n", encoding="utf-8")
    page = write_html(tmp_path, typed(results), analyses).read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)
    assert "<script" not in page.lower() and "<link" not in page.lower()
    # one timeline per trial, the MTTR distribution and the trials side by side (more than one trial)
    assert page.count('src="data:image/png;base64,') == 4
    assert 'id="verdicts"' in page and "✘ FAIL" in page and "✔ PASS" in page
    assert FAULT_LABEL.replace(">", "&gt;") in page
    assert "recovery took 2.0 s, the target was 1 s" in page.lower()
    assert "name: db-down" in page  # the scenario as run
    assert "CLOCK_MONOTONIC" in page and "matplotlib" in page  # environment


def test_html_renders_consistency_when_present(tmp_path: Path) -> None:
    results, analyses = synthetic_run()
    results["trials"][0]["consistency"] = {
        "writes": 120,
        "acknowledged": 100,
        "lost": 2,
        "duplicated": 0,
        "effects": {"order": 118},
        "examples": {"lost": ["key-17", "key-42"]},
    }
    page = render_html(tmp_path, typed(results), analyses)
    assert "Data consistency" in page and "key-17, key-42" in page and "order 118" in page


def test_html_without_analyses_still_renders(tmp_path: Path) -> None:
    results, _ = synthetic_run()
    page = render_html(tmp_path, typed(interrupted(results)), [])
    assert "INTERRUPTED" in page and "data:image/png" not in page
    assert "scenario.yaml is missing" in page


ROLLBACK = {
    "triggered_at": 15.0,
    "reason": "automatic: unhealthy for 3 s",
    "action": "redeploy",
    "action_ok": True,
    "action_duration": 0.8,
    "confirmed_at": 15.9,
    "recovered_at": 16.0,
    "rollback_duration": 1.0,
    "detection_to_rollback": 5.0,
    "impact_at": 10.0,
    "resolution": 0.12,
    "budget": 180.0,
    "escalated": False,
    "note": "",
}


def test_rollback_and_escalation_are_reported(tmp_path: Path, validator: Any) -> None:
    results, analyses = synthetic_run({"recovery_time": "<= 4s"}, trials=2, delays=(2.0, 30.0))
    results["trials"][0]["rollback"] = ROLLBACK
    results["trials"][1]["rollback"] = None
    results["as_run"] = {"trials": 2, "seed": 1, "backend": "process", "rollback": "manual"}
    assert results["escalation"]["needs_human"]
    assert list(validator.iter_errors(results)) == []
    page = render_html(tmp_path, typed(results), analyses)
    assert "ESCALATE: needs a human (automated-recovery budget 180 s)" in page
    assert "<h3>Rollback</h3>" in page and "No rollback happened in this trial" in page
    summary = render_summary(typed(results))
    assert "**ESCALATE**" in summary and "Rollback, trial 1**: redeploy" in summary
    assert "Rollback, trial 2**: none happened" in summary
    root = ET.fromstring(render_junit(typed(results)))
    assert root.find("testsuite/properties/property[@name='needs_human']").get("value") == "true"  # type: ignore[union-attr]


# -- write_reports and the index ------------------------------------------------------------------


def test_write_reports_writes_all_three(tmp_path: Path) -> None:
    results, analyses = synthetic_run()
    paths = write_reports(tmp_path, typed(results), analyses)
    assert sorted(p.name for p in paths) == sorted(REPORT_FILES)
    assert all(p.stat().st_size > 0 for p in paths)
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files behind


def test_one_failing_renderer_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import harness.report.html as html_mod

    def broken(*args: object) -> Path:
        raise RuntimeError("matplotlib exploded")

    monkeypatch.setattr(html_mod, "write_html", broken)
    results, analyses = synthetic_run()
    with pytest.raises(ExceptionGroup) as info:
        write_reports(tmp_path, typed(results), analyses)
    assert [str(e) for e in info.value.exceptions] == ["matplotlib exploded"]
    assert (tmp_path / "junit.xml").exists() and (tmp_path / "summary.md").exists()
    assert not (tmp_path / "report.html").exists()


def test_index_lists_runs_and_skips_unreadable_ones(tmp_path: Path) -> None:
    for n, (delay, stamp) in enumerate(
        [(2.0, "2026-11-20T10:00:00+00:00"), (3.0, "2026-11-21T10:00:00+00:00")]
    ):
        results, _ = synthetic_run(delays=(delay,))
        results.update(run_id=f"2026112{n}-100000-000{n}", started_at=stamp)
        run_dir = tmp_path / results["run_id"]
        run_dir.mkdir()
        (run_dir / "results.json").write_text(json.dumps(results), encoding="utf-8")
    (tmp_path / "20261122-100000-bad0").mkdir()
    (tmp_path / "20261122-100000-bad0" / "results.json").write_text("{torn", encoding="utf-8")
    (tmp_path / "not-a-run").mkdir()
    page = write_index(tmp_path).read_text(encoding="utf-8")
    assert "20261120-100000-0000" in page and "20261121-100000-0001" in page
    assert "2.0 s" in page and "3.0 s" in page
    assert "Skipped" in page and "20261122-100000-bad0" in page
    assert 'src="data:image/png;base64,' in page
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page, re.I)


# -- the words and numbers the reports share ------------------------------------------------------


@pytest.mark.parametrize(
    ("bound", "kind", "words"),
    [
        ("<= 4s", "duration", "4 s"),
        ("<= 4", "duration", "4 s"),
        ("< 500ms", "duration", "under 500 ms"),
        (">= 2m", "duration", "at least 2 min"),
        ("<= 0.05", "share", "5 %"),
        ("<= 0", "count", "0"),
    ],
)
def test_bounds_in_plain_words(bound: str, kind: str, words: str) -> None:
    assert plain_bound(bound, kind) == words


def test_headline_wording_by_state() -> None:
    passing, _ = synthetic_run()
    assert headline(typed(passing)) == "PASSED: every expectation met"
    assert headline(typed(synthetic_run(expect={})[0])).startswith("PASSED: no expectation was stated")
    failing, _ = synthetic_run({"recovery_time": "<= 1s"}, trials=3)
    assert headline(typed(failing)) == (
        "FAILED: recovery took 2.0 s, the target was 1 s (trial 1, down@api->db); 2 more expectations missed"
    )
    assert headline(typed(interrupted(passing))).startswith("INTERRUPTED: ")
    errored = dict(passing, error="toxiproxy died\ndetails", complete=False, passed=False)
    assert headline(typed(errored)) == "ERROR: the rehearsal could not complete: toxiproxy died"
    unrecovered, _ = synthetic_run({"recovery_time": "<= 4s"}, delays=(30.0,))
    assert headline(typed(unrecovered)) == (
        "FAILED: the service did not recover before the rehearsal ended, the target was 4 s "
        "(trial 1, down@api->db)"
    )


def test_mttr_over_trials_counts_unrecovered_as_infinite() -> None:
    results, _ = synthetic_run(trials=3, delays=(2.0, 30.0, 1.0))
    (stats,) = mttr_stats(typed(results))
    assert [v is None for _, v, _ in stats.values] == [False, True, False]
    assert stats.median == pytest.approx(2.0, abs=0.2)
    assert math.isinf(stats.p95) and math.isinf(stats.max) and stats.recovered == 2


def test_consistency_rows_read_the_reconciler_shape() -> None:
    class Later(ConsistencyResult):  # a figure the model gains later is shown, after the known ones
        backlog: int = 0

    rows = consistency_rows(Later(lost=1, writes=5, examples={"lost": ["k9"]}, backlog=3))
    keys = [r[0] for r in rows]
    assert keys[:2] == ["writes", "acknowledged"] and keys[-1] == "backlog"
    assert {r[0]: r[1:3] for r in rows}["lost"] == ("1", ["k9"])


@settings(max_examples=60, deadline=None)
@given(
    ends=st.lists(st.floats(0.0, 10.0, allow_nan=False), min_size=0, max_size=300),
    width=st.sampled_from([0.1, 0.25, 0.5, 1.0, 3.0]),
    seed=st.integers(0, 2**16),
)
def test_binned_series_match_a_per_bin_reference(ends: list[float], width: float, seed: int) -> None:
    """The vectorised per-bin counts and percentiles equal numpy's, computed bin by bin."""
    rng = np.random.default_rng(seed)
    end = np.asarray(ends, dtype=np.float64)
    latency = rng.uniform(0.001, 0.5, end.size)
    ok = rng.random(end.size) > 0.3
    samples = RequestSamples.from_arrays(end - latency, end, ok)
    series = bin_samples(samples, 0.0, 10.0, width)
    assert series.edges[0] == 0.0 and series.edges[-1] == 10.0
    assert int(series.count.sum()) == int(np.count_nonzero(samples.end > 0.0))
    for k in range(series.count.size):
        lo, hi = series.edges[k], series.edges[k + 1]
        inside = (samples.end > lo) & (samples.end <= hi)
        assert series.count[k] == np.count_nonzero(inside)
        assert series.failed[k] == np.count_nonzero(inside & ~samples.ok)
        if series.count[k]:
            expected = np.percentile(samples.latency[inside], [50, 95, 99], method="linear")
            got = [series.p50[k], series.p95[k], series.p99[k]]
            assert np.allclose(got, expected, rtol=0, atol=1e-12)
        else:
            assert math.isnan(series.p50[k]) and math.isnan(series.error_share[k])


def test_bin_width_is_round_and_bounded() -> None:
    assert choose_bin_width(20.0, 2000, window=1.0) == 0.5  # ~40 requests a bin
    assert choose_bin_width(3600.0, 10**6, window=1.0) == 10.0  # at most 400 bins
    assert choose_bin_width(20.0, 10, window=1.0) == 1.0  # sparse traffic: never wider than a window


# -- regenerating from a run directory ----------------------------------------------------------------


SCENARIO_YAML = """\
name: tiny-down
description: A hand-made run directory; the fault lasts 4 s and recovery takes 2 s.
target: groundtruth
load:
  users: 1
  rate_per_user: 100
  duration: 20s
slo:
  window: 1s
  step: 100ms
  success_rate: 0.99
  hold: 3s
faults:
  - kind: down
    link: app->dep
    at: 4s
    duration: 4s
expect:
  recovery_time: "<= 4s"
  recovered: true
"""


def make_run_dir(run_dir: Path) -> None:
    """A run directory as the orchestrator leaves it: journal, scenario copy, one ledger shard."""
    t0 = 5_000_000_000_000
    ns = 1_000_000_000

    def at(seconds: float) -> int:
        return t0 + round(seconds * ns)

    fault = {"fault": 0, "trial": 1, "kind": "down", "target": "app->dep", "label": "down@app->dep"}
    events: list[tuple[int, str, dict[str, Any]]] = [
        (
            at(0.001),
            "run_started",
            {
                "run_id": run_dir.name,
                "scenario": "tiny-down",
                "backend": "process",
                "trials": 1,
                "t0_ns": t0,
                "seed": 1,
                "scenario_file": "scenarios/tiny.yaml",
                "target": "groundtruth",
                "wallclock": "2026-11-21T12:00:00+00:00",
                "clock": "CLOCK_MONOTONIC",
                "environment": {"python": "3.11"},
            },
        ),
        (at(0.002), "trial_started", {"trial": 1, "target": "groundtruth"}),
        (at(1.0), "load_started", {"trial": 1, "users": 1, "duration": 20.0}),
        (at(5.0), "fault_injected", {**fault, "scheduled_ns": at(4.999)}),
        (at(9.0), "fault_cleared", {**fault, "scheduled_ns": at(8.999)}),
        (at(21.0), "load_stopped", {"trial": 1}),
        (at(21.5), "run_finished", {"complete": True, "trials_run": 1}),
    ]
    run_dir.mkdir(parents=True)
    with (run_dir / "journal.jsonl").open("w", encoding="utf-8") as fh:
        for t_ns, kind, data in events:
            fh.write(json.dumps({"t_ns": t_ns, "t": (t_ns - t0) / ns, "event": kind, **data}) + "\n")
    (run_dir / "scenario.yaml").write_text(SCENARIO_YAML, encoding="utf-8")
    trial_dir = run_dir / "trial-1"
    trial_dir.mkdir()
    writer = LedgerWriter(trial_dir / "ledger-1.csv")
    for i in range(2000):  # a request every 10 ms from 1 s to 21 s
        end_s = 1.0 + (i + 1) * 0.01
        bad = 5.0 <= end_s < 11.0  # down from 5 s, failing until 2 s after the clear at 9 s
        writer.write(
            LedgerRecord(
                id=f"r{i}",
                op="work",
                key="",
                start_ns=at(end_s - 0.004),
                end_ns=at(end_s),
                outcome="indeterminate" if bad else "ok",
                status=503 if bad else 200,
                latency_ms=4.0,
                attempt=1,
                error="",
            )
        )
    writer.close()


def test_reports_regenerate_from_a_run_directory(tmp_path: Path) -> None:
    run_dir = tmp_path / "20261121-120000-f1x7"
    make_run_dir(run_dir)
    results, analyses = analyse_run(run_dir)
    assert results.passed and results.complete
    (fault,) = results.trials[0].faults
    assert fault.recovery_time == pytest.approx(2.0, abs=fault.resolution.recovery_time)
    try:  # the schema check runs where jsonschema is installed (the dev extra); the rest always
        jsonschema: Any = importlib.import_module("jsonschema")
    except ImportError:
        pass
    else:
        schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
        errors = jsonschema.Draft202012Validator(schema).iter_errors(json.loads(results.to_json()))
        assert [e.message for e in errors] == []

    paths = write_reports(run_dir, results, analyses)
    assert sorted(p.name for p in paths) == sorted(REPORT_FILES)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "PASSED" in page and "down@app-&gt;dep" in page and "name: tiny-down" in page
    assert page.count('src="data:image/png;base64,') == 1
    _, counts = junit_counts((run_dir / "junit.xml").read_bytes())
    assert counts == {"tests": 2, "failures": 0, "errors": 0}
    assert "PASSED: every expectation met" in (run_dir / "summary.md").read_text(encoding="utf-8").replace(
        "**", ""
    )
    (run_dir / "results.json").write_text(results.to_json(), encoding="utf-8")
    assert run_dir.name in write_index(tmp_path).read_text(encoding="utf-8")
