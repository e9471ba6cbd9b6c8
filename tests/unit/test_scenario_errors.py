"""Every broken scenario is rejected before anything starts, with file, line, field, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.scenario.loader import load_scenario

BROKEN = Path(__file__).resolve().parents[1] / "fixtures" / "scenarios" / "broken"
REPO = Path(__file__).resolve().parents[2]

# file -> substrings the error must contain (where, what, value, fix)
EXPECTED: dict[str, list[str]] = {
    "yaml-error.yaml": ["yaml-error.yaml:5", "not valid YAML", "fix:"],
    "unknown-field.yaml": ["unknown-field.yaml:3", "unknown field 'lod'", "did you mean 'load'"],
    "unknown-link.yaml": ["unknown-link.yaml:6", "faults[0].link", "'api->cache'", "links are: api->db"],
    "bad-duration.yaml": ["bad-duration.yaml:4", "load.duration", "'10 seconds'", "500ms, 10s or 2m"],
    "negative-numbers.yaml": [
        "negative-numbers.yaml:4",
        "load.users",
        "-3",
        "faults[0].at",
        "cannot be negative",
    ],
    "missing-target.yaml": ["missing-target.yaml", "target", "required field is missing", "add `target:`"],
    "unknown-target.yaml": ["unknown-target.yaml:2", "'ordrs'", "available:", "orders"],
    "unknown-fault-kind.yaml": ["unknown-fault-kind.yaml:5", "unknown fault kind 'explode'", "latency"],
    "fault-outlives-load.yaml": [
        "fault-outlives-load.yaml:5",
        "faults[0]",
        "load ends at 20s",
        "set load.duration to at least 28s",
    ],
    "bad-bound.yaml": ["bad-bound.yaml:5", "expect.recovery_time", "'<= fast'"],
    "unknown-fault-field.yaml": [
        "unknown-fault-field.yaml:9",
        "unknown field 'latncy'",
        "did you mean 'latency'",
    ],
}


@pytest.fixture(autouse=True)
def _targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_TARGETS", str(REPO / "targets"))


def test_the_corpus_is_covered() -> None:
    assert sorted(p.name for p in BROKEN.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_scenario_is_rejected_with_where_what_and_fix(name: str) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(BROKEN / name)
    text = str(info.value)
    for part in EXPECTED[name]:
        assert part in text, f"{part!r} missing from:\n{text}"
    assert info.value.exit_code == 2


def test_several_problems_are_reported_at_once() -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario(BROKEN / "negative-numbers.yaml")
    assert len(info.value.problems) >= 2


def test_the_shipped_scenarios_are_valid() -> None:
    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        load_scenario(path)
