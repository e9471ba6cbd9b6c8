"""Every broken scenario is rejected before anything starts, with file, line, field, value and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from harness.cli import main
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
    "unknown-target.yaml": ["unknown-target.yaml:2", "'ordrs'", "did you mean 'orders'", "available:"],
    "unknown-fault-kind.yaml": ["unknown-fault-kind.yaml:5", "unknown fault kind 'explode'", "latency"],
    # hostile input (issue 18): each of these was a traceback, a hang or accepted before
    "not-utf8.yaml": [
        "not-utf8.yaml:3",
        "(encoding)",
        "not valid UTF-8",
        "byte 0xe9",
        "save the file as UTF-8",
    ],
    "deep-nesting.yaml": ["deep-nesting.yaml:3", "nested more than 64 levels", "fix:"],
    "alias-bomb.yaml": ["alias-bomb.yaml:", "more than 50000 values once aliases expand", "fix:"],
    "duplicate-key.yaml": ["duplicate-key.yaml:4", "name: duplicate key (first given on line 1)", "keep one"],
    "control-char-name.yaml": ["control-char-name.yaml:1", "name: contains the control character U+0000"],
    "explore-bad-counts.yaml": [
        "explore-bad-counts.yaml:6",
        "explore.max_faults",
        "(got True)",
        "explore-bad-counts.yaml:8",
        "explore.duration: the range [0.01, 0.04] holds nothing to draw",
        "fix: raise its upper end to at least 0.1",
    ],
    "nonsense-bounds.yaml": [
        "nonsense-bounds.yaml:5: expect.stuck: a bound on a count cannot be negative (got '-1e18')",
        "nonsense-bounds.yaml:6: expect.lost_writes: a count of writes is a whole number",
        "nonsense-bounds.yaml:7: expect.recovery_time",
        "(got inf)",
        "nonsense-bounds.yaml:8: expect.detection_to_rollback: a duration must be at most 24h",
        "fix: use a value <= 24h",
    ],
    "identical-faults.yaml": [
        "identical-faults.yaml:4",
        "faults: List should have at most 100 items",
        "fix:",
    ],
    "python-object.yaml": ["python-object.yaml:3", "python/object", "fix: remove the tag"],
    "huge-users.yaml": ["huge-users.yaml:4", "load.users", "'1e12'", "fix: write a whole number"],
    "fault-kind-typo.yaml": [
        "fault-kind-typo.yaml:5",
        "unknown fault kind 'latncy'",
        "did you mean 'latency'?",
    ],
    "overlapping-faults.yaml": [
        "overlapping-faults.yaml:6: faults[1]: overlaps faults[0] on link api->db",
        "fix: start faults[1] at 11s or later",
    ],
    "missing-binary.yaml": [
        "no-binary/target.yaml:5: services.api.command: no such program",
        "'/opt/nowhere/bin/api-server'",
        "services.worker.command: the script does not exist",
        "'worker_missing.py'",
    ],
    "docker-no-dockerfiles.yaml": [
        "no-dockerfiles/target.yaml:4: services.api: no image for the docker backend"
    ],
    "target-dir-without-yaml.yaml": [
        "target-dir-without-yaml.yaml:2",
        "no-target-yaml has no target.yaml",
        "'./targets/no-target-yaml'",
    ],
    "fault-outlives-load.yaml": [
        "fault-outlives-load.yaml:5",
        "faults[0]",
        "load ends at 20s",
        "set load.duration to at least 23s",
    ],
    "bad-bound.yaml": ["bad-bound.yaml:5", "expect.recovery_time", "'<= fast'"],
    "crash-bad-values.yaml": [
        "crash-bad-values.yaml:8: faults[0].signal: unknown signal (got 'TREM')",
        "fix: did you mean 'TERM'? use one of: KILL, TERM, INT",
        "crash-bad-values.yaml:9: faults[0].scope: unknown scope (got 'child')",
        "fix: did you mean 'children'? use one of: group, main, children",
        "crash-bad-values.yaml:10: faults[1]: delay (0.2s) counts from a `when_log` match",
        "move the delay into `at` (at: 12.2s)",
    ],
    "toxic-bad-values.yaml": [
        "toxic-bad-values.yaml:5: faults[0].rate",
        "fix: use a value >= 1",
        "toxic-bad-values.yaml:6: faults[1]: size_variation (64) must be less than average_size (64)",
        "fix: set size_variation to at most 63",
        "toxic-bad-values.yaml:7: faults[2].delay: required field is missing",
        "toxic-bad-values.yaml:8: faults[3].bytes",
        "toxic-bad-values.yaml:9",
        "unknown fault kind 'bandwith'",
        "did you mean 'bandwidth'?",
    ],
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


def test_the_fix_for_a_short_load_is_exact(tmp_path: Path) -> None:
    """Applying the fix's number passes; one tenth less still fails (run through `validate`)."""
    text = (BROKEN / "fault-outlives-load.yaml").read_text()
    runner = CliRunner()
    for duration, code in (("23s", 0), ("22.9s", 2)):
        path = tmp_path / "fixed.yaml"
        path.write_text(text.replace("{duration: 20s}", f"{{duration: {duration}}}"))
        result = runner.invoke(main, ["validate", str(path)])
        assert result.exit_code == code, result.output


def test_the_fix_for_a_late_manual_rollback_is_exact(tmp_path: Path) -> None:
    base = (REPO / "scenarios" / "bad-deploy-rollback.yaml").read_text()
    manual = base.replace("trigger: automatic", "trigger: manual\n  at: 28s")
    path = tmp_path / "late.yaml"
    path.write_text(manual)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "set load.duration to at least 31s" in str(info.value)
    path.write_text(manual.replace("duration: 30s}", "duration: 31s}"))
    load_scenario(path)


def test_a_docker_override_checks_the_dockerfiles_and_a_process_one_the_programs() -> None:
    docker = BROKEN / "docker-no-dockerfiles.yaml"
    load_scenario(docker, backend="process")  # python is on PATH: fine as processes
    with pytest.raises(ScenarioError, match="no image for the docker backend"):
        load_scenario(docker)
    with pytest.raises(ScenarioError) as info:
        load_scenario(BROKEN / "missing-binary.yaml", backend="docker")
    assert "no such program" not in str(info.value)  # in Docker, programs live in the image
    assert "no image for the docker backend" in str(info.value)


def test_faults_one_after_another_on_a_link_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "sequential.yaml"
    path.write_text(
        "name: sequential\ntarget: orders\nload: {duration: 30s}\nfaults:\n"
        "  - {kind: latency, link: api->db, at: 5s, duration: 6s, latency: 100ms}\n"
        "  - {kind: down, link: api->db, at: 11s, duration: 4s}\n"
        "  - {kind: down, link: worker->db, at: 6s, duration: 4s}\n"
    )
    assert len(load_scenario(path).scenario.faults) == 3


def test_a_partition_overlaps_a_fault_on_a_link_it_cuts(tmp_path: Path) -> None:
    path = tmp_path / "partition.yaml"
    path.write_text(
        "name: partition\ntarget: orders\nload: {duration: 30s}\nfaults:\n"
        "  - {kind: partition, groups: [[api, worker], [db]], at: 5s, duration: 6s}\n"
        "  - {kind: latency, link: worker->db, at: 8s, duration: 2s, latency: 1s}\n"
    )
    with pytest.raises(ScenarioError, match=r"faults\[1\]: overlaps faults\[0\] on link worker->db"):
        load_scenario(path)


def test_a_few_identical_faults_are_named_as_copies(tmp_path: Path) -> None:
    path = tmp_path / "copies.yaml"
    path.write_text(
        "name: copies\ntarget: orders\nload: {duration: 30s}\nfaults:\n"
        + "  - {kind: crash, service: worker, at: 5s, duration: 1s}\n" * 3
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert "faults[2]: the same fault as faults[0]" in str(info.value)
