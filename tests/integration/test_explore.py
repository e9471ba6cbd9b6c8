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
                "load": {"users": 5, "rate_per_user": 20, "duration": "12s", "request_timeout": "1s"},
                "slo": {"window": "1s", "step": "50ms", "hold": "2s"},
                "expect": {
                    "recovery_time": "<= 2s"
                },  # any fault that really breaks the dependency misses this
                "explore": {
                    "kinds": ["latency", "down"],
                    "max_faults": 2,
                    "start": ["2s", "4s"],
                    "duration": ["1s", "3s"],
                    "latency": ["100ms", "1s"],
                    "budget": 3,
                },
            }
        )
    )
    proc = aftershock("explore", str(scenario), "--out", str(tmp_path / "out"), "--time", "100s", timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAILED: smallest failing schedule" in proc.stdout
    (session,) = sorted((tmp_path / "out" / "explore" / "gt-explore").glob("2*"))
    report = json.loads((session / "explore.json").read_text())
    minimal = report["minimal"]["schedule"]
    assert 1 <= len(minimal) <= 2
    assert len(minimal) == 1 or len(report["examples"]) >= 10  # shrunk to one fault unless the cap hit
    assert all(e["verdict"] in ("passed", "failed") for e in report["examples"])
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
    second = aftershock(
        "explore", str(scenario), "--out", str(tmp_path / "out"), "--time", "1s", "--seed", "7", timeout=600
    )
    assert second.returncode == 1, second.stdout + second.stderr
    assert "replaying 1 schedule(s) that failed before" in second.stderr
    latest = sorted((tmp_path / "out" / "explore" / "gt-explore").glob("2*"))[-1]
    assert json.loads((latest / "explore.json").read_text())["examples"][0]["schedule"] == minimal


def test_explore_without_bounds_is_a_usage_error(tmp_path: Path) -> None:
    proc = aftershock("explore", "scenarios/db-down.yaml", "--out", str(tmp_path))
    assert proc.returncode == 2
    assert "no `explore:` block" in proc.stderr
