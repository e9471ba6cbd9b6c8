"""One end-to-end exploration with a tiny budget: find, shrink, write out, reproduce."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.conftest import REPO, aftershock

pytestmark = pytest.mark.integration


def test_explore_finds_shrinks_and_the_written_scenario_reproduces(tmp_path: Path) -> None:
    scenario = tmp_path / "gt-explore.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "gt-explore",
                "target": {
                    "name": str(REPO / "targets" / "groundtruth"),
                    "env": {"app": {"GT_RECOVERY_DELAY": "3"}},
                },
                "load": {"users": 5, "rate_per_user": 20, "duration": "8s", "request_timeout": "1s"},
                "slo": {"window": "1s", "step": "50ms", "hold": "1s"},
                # Every schedule in these bounds breaks the dependency (down, or latency above the
                # service's 0.3 s probe timeout) and the service needs 3 s to recover: every
                # rehearsal fails whatever the machine's load, so the search (seeded) and its
                # shrinking take the same path every time. No --time: a time limit made the
                # outcome depend on the machine's speed.
                "expect": {"recovery_time": "<= 2s"},
                "explore": {
                    "kinds": ["latency", "down"],
                    "max_faults": 2,
                    "start": ["3s", "4s"],  # room for the 1 s baseline before any fault
                    "duration": ["1s", "2s"],
                    "latency": ["500ms", "1s"],
                    "budget": 3,
                },
            }
        )
    )
    proc = aftershock("explore", str(scenario), "--out", str(tmp_path / "out"), timeout=900)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED: smallest failing schedule" in proc.stdout
    (session,) = sorted((tmp_path / "out" / "explore" / "gt-explore").glob("2*"))
    report = json.loads((session / "explore.json").read_text())
    minimal = report["minimal"]["schedule"]
    assert all(e["verdict"] == "failed" for e in report["examples"]), report["examples"]
    assert len(minimal) == 1, report["examples"]  # one fault
    # shrunk: never later nor longer than the first failure found
    first = report["examples"][0]["schedule"][0]
    assert minimal[0]["at"] <= first["at"] and minimal[0]["duration"] <= first["duration"], (first, minimal)
    # no schedule is rehearsed twice, except to confirm a failure
    passed = [
        json.dumps(e["schedule"], sort_keys=True) for e in report["examples"] if e["verdict"] == "passed"
    ]
    assert len(passed) == len(set(passed))
    # the minimal scenario is portable (its target relative to itself) and every rehearsal is indexed
    minimal_doc = yaml.safe_load(Path(report["minimal_scenario"]).read_text())
    assert not Path(minimal_doc["target"]["name"]).is_absolute()
    assert (session / "runs" / "index.html").exists()
    # every rehearsal of the exploration wrote results that match the generated schema
    schema = json.loads((REPO / "docs" / "results-schema.json").read_text())
    written = sorted((tmp_path / "out").rglob("results.json"))
    assert written
    for path in written:
        jsonschema.validate(json.loads(path.read_text()), schema)
    assert "aftershock explore" in report["repeat"] and "--seed" in report["repeat"]
    # the written scenario is an ordinary one, and it reproduces the failure
    again = aftershock("run", report["minimal_scenario"], "--out", str(tmp_path / "again"), "--quiet")
    assert again.returncode == 1, again.stdout + again.stderr
    assert (session / "explore.md").read_text().startswith("# Exploration of `gt-explore`")
    # the failure is kept: the next search (any seed) replays it first, as its first rehearsal
    replay = json.loads((tmp_path / "out" / "explore" / "gt-explore" / "replay.json").read_text())
    assert replay["schedules"][0] == minimal
    # --budget 1, not --time 1s: a time limit could expire before the replay even started
    second = aftershock(
        "explore", str(scenario), "--out", str(tmp_path / "out"), "--budget", "1", "--seed", "7", timeout=600
    )
    assert second.returncode == 1, second.stdout + second.stderr
    assert "replaying 1 schedule(s) that failed before" in second.stderr
    latest = sorted((tmp_path / "out" / "explore" / "gt-explore").glob("2*"))[-1]
    assert json.loads((latest / "explore.json").read_text())["examples"][0]["schedule"] == minimal


def test_explore_without_bounds_is_a_usage_error(tmp_path: Path) -> None:
    proc = aftershock("explore", "scenarios/db-down.yaml", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "no `explore:` block" in proc.stderr
